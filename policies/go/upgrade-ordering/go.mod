module fleetward.dev/policies/upgrade-ordering

go 1.24

require fleetward.dev/sdk-go v0.0.0

replace fleetward.dev/sdk-go => ../../../sdk-go

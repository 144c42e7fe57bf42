module fleetward.dev/sdk-go

go 1.24

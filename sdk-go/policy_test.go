package fleetward

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type testConfig struct {
	Factor int `json:"factor"`
}

// register replaces the registered policy for one test.
func register(t *testing.T, p Policy[testConfig]) {
	t.Helper()
	registered = nil
	Register(p)
	t.Cleanup(func() { registered = nil })
}

func envelope(call Call, config, request string) []byte {
	return []byte(`{"abi_version":1,"decision":"` + string(call) + `","now":"2026-11-25T17:00:00Z","tenant":"acme","config":` + config + `,"request":` + request + `}`)
}

func TestDispatch(t *testing.T) {
	seed := "eu-1"
	register(t, Policy[testConfig]{
		DefaultConfig: func() testConfig { return testConfig{Factor: 3} },
		ValidateConfig: func(c *testConfig) error {
			if c.Factor > 10 {
				return InvalidConfig("factor: at most 10, got %d", c.Factor)
			}
			return nil
		},
		Place: func(ctx Context, req *PlacementRequest, c *testConfig) (*PlacementDecision, error) {
			switch len(req.Seeds) {
			case 0:
				return nil, Errorf("no_candidate", "no seeds")
			case 1:
				return nil, errors.New("plain error")
			case 2:
				var none []int
				_ = none[len(req.Seeds)]
			}
			return &PlacementDecision{Seed: &seed, Reason: ctx.Tenant + " " + ctx.Now.String() + " " + strings.Repeat("x", c.Factor)}, nil
		},
	})
	seeds := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = `{"name":"s","region":"r","provider":"p","labels":{},"capacity":1,"clusters":0,"ready":true,"min_version":"1.30","max_version":"1.33"}`
		}
		return `{"cluster":{"id":{"namespace":"n","name":"c"},"labels":{},"version":"1.31.0","constraints":{}},"seeds":[` + strings.Join(s, ",") + `],"tenant_placements":[]}`
	}
	cases := []struct {
		name, call, config, request, want string
	}{
		{"decides with defaults for a null config", "placement", "null", seeds(3), `{"ok":{"seed":"eu-1","reason":"acme 2026-11-25T17:00:00Z xxx"}}`},
		{"tenant config overrides defaults", "placement", `{"factor":1}`, seeds(3), `{"ok":{"seed":"eu-1","reason":"acme 2026-11-25T17:00:00Z x"}}`},
		{"unknown config field", "placement", `{"facter":1}`, seeds(3), `{"error":{"code":"invalid_config","message":"json: unknown field \"facter\""}}`},
		{"policy error", "placement", "null", seeds(0), `{"error":{"code":"no_candidate","message":"no seeds"}}`},
		{"plain Go error", "placement", "null", seeds(1), `{"error":{"code":"policy_error","message":"plain error"}}`},
		{"bad request", "placement", "null", `{"seeds":"no"}`, `{"error":{"code":"invalid_request","message":"request: json: cannot unmarshal string into Go struct field PlacementRequest.seeds of type []fleetward.SeedCandidate"}}`},
		{"validate_config ok", "validate_config", `{"factor":10}`, "null", `{"ok":null}`},
		{"validate_config rejects", "validate_config", `{"factor":11}`, "null", `{"error":{"code":"invalid_config","message":"factor: at most 10, got 11"}}`},
		{"not implemented", "remediation", "null", "{}", `{"error":{"code":"not_implemented","message":"this policy does not implement remediation"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := string(Dispatch(Call(c.call), envelope(Call(c.call), c.config, c.request)))
			if got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
	t.Run("wrong entry point", func(t *testing.T) {
		got := string(Dispatch(CallRemediation, envelope(CallPlacement, "null", seeds(3))))
		if !strings.Contains(got, `"code":"invalid_input"`) {
			t.Errorf("got %s", got)
		}
	})
	t.Run("panic carries message and stack", func(t *testing.T) {
		var out struct{ Error *Error }
		if err := json.Unmarshal(Dispatch(CallPlacement, envelope(CallPlacement, "null", seeds(2))), &out); err != nil || out.Error == nil {
			t.Fatalf("no error envelope: %v", err)
		}
		msg := out.Error.Message
		for _, want := range []string{"panic: runtime error: index out of range [2] with length 0", "goroutine ", "fleetward.dev/sdk-go.TestDispatch"} {
			if out.Error.Code != CodePanic || !strings.Contains(msg, want) {
				t.Errorf("code %s, message lacks %q:\n%s", out.Error.Code, want, msg)
			}
		}
	})
}

func TestTimestampAndVersion(t *testing.T) {
	ts, err := ParseTimestamp("2026-11-25T19:00:00.9+02:00")
	if err != nil || ts.String() != "2026-11-25T17:00:00Z" {
		t.Errorf("offset and fraction normalise to UTC seconds: %v %v", ts, err)
	}
	if ts.Weekday() != 2 {
		t.Errorf("2026-11-25 is a Wednesday (2), got %d", ts.Weekday())
	}
	if _, err := ParseTimestamp("2026-11-25 17:00"); err == nil {
		t.Error("a timestamp without seconds and zone must be rejected")
	}
	a, _ := ParseKubeVersion("v1.31")
	b, _ := ParseKubeVersion("1.31.4")
	c, _ := ParseKubeVersion("1.32.0")
	if !a.Less(b) || !b.Less(c) || c.MinorDistance(a) != 1 || b.String() != "1.31.4" {
		t.Errorf("ordering: %v %v %v", a, b, c)
	}
	for _, bad := range []string{"", "1", "1.x", "1.31.4.5", "one.two", "1.-1"} {
		if _, err := ParseKubeVersion(bad); err == nil {
			t.Errorf("%q must be rejected", bad)
		}
	}
}

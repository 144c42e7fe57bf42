package fleetward

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
)

// ABIVersion is the ABI this SDK speaks; the module's fleetward_abi_version export returns it.
const ABIVersion = 1

// Call names what a call is for, as in the input envelope's "decision" field.
type Call string

// The calls of ABI v1.
const (
	CallPlacement       Call = "placement"
	CallUpgradeOrdering Call = "upgrade_ordering"
	CallRemediation     Call = "remediation"
	CallValidateConfig  Call = "validate_config"
)

// Error codes the SDK itself produces, besides the policy's own.
const (
	// CodeInvalidConfig: the tenant's config does not fit the policy's config type or checks.
	CodeInvalidConfig = "invalid_config"
	// CodeInvalidRequest: the request does not match the wire type, or makes no sense.
	CodeInvalidRequest = "invalid_request"
	// CodeInvalidInput: the envelope is malformed or names another call than the export.
	CodeInvalidInput = "invalid_input"
	// CodeNotImplemented: the module exports the call but registered no function for it.
	CodeNotImplemented = "not_implemented"
	// CodePanic: the policy panicked; the message is the panic value and the goroutine's stack,
	// as `go test` prints them.
	CodePanic = "panic"
	// CodePolicyError: the policy returned an error that is not an *[Error].
	CodePolicyError = "policy_error"
)

// Context is what a decision knows besides its request: the decision time (the policy's only
// clock: time.Now inside the module reads the same value) and the tenant.
type Context struct {
	Now    Timestamp
	Tenant string
}

// Error is a structured error a policy returns instead of a decision; the host reports it as
// the call's error ("policy declined (code): message").
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error with a code of the policy's choosing (e.g. "no_candidate").
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidConfig is an invalid_config error: the tenant's config is wrong; say which field.
func InvalidConfig(format string, args ...any) *Error {
	return Errorf(CodeInvalidConfig, format, args...)
}

// InvalidRequest is an invalid_request error: the request makes no sense to the policy.
func InvalidRequest(format string, args ...any) *Error {
	return Errorf(CodeInvalidRequest, format, args...)
}

// Logf writes one "info: ..." line to stderr: in a module the host captures it as the call's
// policy log (64 KiB per call); under go test it is the test's stderr.
func Logf(format string, args ...any) { logLine("info", format, args...) }

// Warnf logs at warn level.
func Warnf(format string, args ...any) { logLine("warn", format, args...) }

// Debugf logs at debug level.
func Debugf(format string, args ...any) { logLine("debug", format, args...) }

func logLine(level, format string, args ...any) {
	line := level + ": " + fmt.Sprintf(format, args...) + "\n"
	_, _ = os.Stderr.WriteString(line)
}

// Policy declares a policy's functions over its config type C. Leave a decision nil when the
// policy does not make it (and do not export it: see the package documentation).
type Policy[C any] struct {
	// DefaultConfig returns the config before the tenant's JSON is applied over it: fields the
	// tenant omits keep these values; a null (absent) config is read as {}. Nil: C's zero value.
	DefaultConfig func() C
	// ValidateConfig checks what decoding cannot (ranges, duplicates). It runs at bind time
	// (fleetward_validate_config) and should run again in each decision.
	ValidateConfig func(cfg *C) error
	// Place decides placement.
	Place func(ctx Context, req *PlacementRequest, cfg *C) (*PlacementDecision, error)
	// OrderUpgrades decides upgrade ordering.
	OrderUpgrades func(ctx Context, req *UpgradeRequest, cfg *C) (*UpgradeDecision, error)
	// Remediate decides remediation.
	Remediate func(ctx Context, req *RemediationRequest, cfg *C) (*RemediationDecision, error)
}

// handler runs one call on a decoded envelope and returns the decision (or error).
type handler func(env *inputEnvelope) (any, error)

var registered map[Call]handler

// Register declares the policy. Call it once, from an init function of the main package, so it
// runs while the module initialises (and before any test).
func Register[C any](p Policy[C]) {
	if registered != nil {
		panic("fleetward.Register called twice")
	}
	config := func(raw json.RawMessage) (*C, error) {
		var cfg C
		if p.DefaultConfig != nil {
			cfg = p.DefaultConfig()
		}
		if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			raw = json.RawMessage("{}")
		}
		if err := decodeStrict(raw, &cfg); err != nil {
			return nil, InvalidConfig("%s", err)
		}
		return &cfg, nil
	}
	registered = map[Call]handler{
		CallValidateConfig: func(env *inputEnvelope) (any, error) {
			cfg, err := config(env.Config)
			if err != nil {
				return nil, err
			}
			if p.ValidateConfig != nil {
				if err := p.ValidateConfig(cfg); err != nil {
					return nil, err
				}
			}
			return nil, nil
		},
	}
	if p.Place != nil {
		registered[CallPlacement] = decision(config, p.Place)
	}
	if p.OrderUpgrades != nil {
		registered[CallUpgradeOrdering] = decision(config, p.OrderUpgrades)
	}
	if p.Remediate != nil {
		registered[CallRemediation] = decision(config, p.Remediate)
	}
}

func decision[C, Req, Dec any](
	config func(json.RawMessage) (*C, error),
	f func(Context, *Req, *C) (*Dec, error),
) handler {
	return func(env *inputEnvelope) (any, error) {
		var req Req
		if err := decodeStrict(env.Request, &req); err != nil {
			return nil, InvalidRequest("request: %s", err)
		}
		cfg, err := config(env.Config)
		if err != nil {
			return nil, err
		}
		dec, err := f(Context{Now: env.Now, Tenant: env.Tenant}, &req, cfg)
		if err != nil {
			return nil, err
		}
		if dec == nil {
			return nil, Errorf(CodePolicyError, "the policy returned neither a decision nor an error")
		}
		return dec, nil
	}
}

// Implements reports whether the registered policy makes decision call.
func Implements(call Call) bool {
	_, ok := registered[call]
	return ok
}

type inputEnvelope struct {
	ABIVersion uint32          `json:"abi_version"`
	Decision   Call            `json:"decision"`
	Now        Timestamp       `json:"now"`
	Tenant     string          `json:"tenant"`
	Config     json.RawMessage `json:"config"`
	Request    json.RawMessage `json:"request"`
}

type outputEnvelope struct {
	Ok    *json.RawMessage `json:"ok,omitempty"`
	Error *Error           `json:"error,omitempty"`
}

// Dispatch runs one call on a JSON input envelope and returns the JSON output envelope. It is
// exactly what the module's exports run, so a native test of Dispatch sees the module's bytes.
// A panic in the policy becomes an error with code "panic" carrying the value and stack.
func Dispatch(call Call, input []byte) (output []byte) {
	defer func() {
		if v := recover(); v != nil {
			msg := fmt.Sprintf("panic: %v\n\n%s", v, debug.Stack())
			_, _ = os.Stderr.WriteString(msg)
			output = encodeOutput(nil, &Error{Code: CodePanic, Message: strings.TrimRight(msg, "\n")})
		}
	}()
	var env inputEnvelope
	if err := json.Unmarshal(input, &env); err != nil {
		return encodeOutput(nil, Errorf(CodeInvalidInput, "input envelope: %s", err))
	}
	if env.Decision != call {
		return encodeOutput(nil, Errorf(CodeInvalidInput,
			"the %s entry point was called with a %q envelope", call, env.Decision))
	}
	h, ok := registered[call]
	if !ok {
		return encodeOutput(nil, Errorf(CodeNotImplemented, "this policy does not implement %s", call))
	}
	dec, err := h(&env)
	return encodeOutput(dec, err)
}

func encodeOutput(dec any, err error) []byte {
	var out outputEnvelope
	if err != nil {
		var pe *Error
		if !errors.As(err, &pe) {
			pe = &Error{Code: CodePolicyError, Message: err.Error()}
		}
		out.Error = pe
	} else {
		b, merr := json.Marshal(dec)
		if merr != nil {
			out.Error = Errorf(CodePolicyError, "cannot encode the decision: %s", merr)
		} else {
			raw := json.RawMessage(b)
			out.Ok = &raw
		}
	}
	b, _ := json.Marshal(out)
	if out.Ok == nil && out.Error == nil {
		b = []byte(`{"ok":null}`)
	}
	return b
}

// decodeStrict decodes JSON into v, rejecting unknown fields and trailing data, with the
// field's JSON path in the message where encoding/json knows it.
func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// Package fleetwardtest runs a Go policy's logic under plain `go test` on the fixture files
// `fleetward policy test` reads (docs/policy-testing.md), through the same fleetward.Dispatch
// the module's exports run. So `go test` checks the logic quickly, without Wasm, and
// `fleetward policy test DIR --module policy.wasm` then checks the built module agrees.
//
//	func TestFixtures(t *testing.T) { fleetwardtest.RunFixtures(t, "fixtures") }
//
// Each case runs as the host runs it: validate_config first (a rejection is error kind
// config_rejected), then the decision (an {"error": ...} answer is kind declined, a missing
// decision decision_not_implemented). Panics come back from Dispatch as declined with code
// "panic", as they do from the module.
package fleetwardtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	fleetward "fleetward.dev/sdk-go"
)

// Suite holds a fixture directory's defaults (suite.json).
type Suite struct {
	Module string          `json:"module"`
	Tenant *string         `json:"tenant"`
	Config json.RawMessage `json:"config"`
	Now    *string         `json:"now"`
}

// Case is one fixture file.
type Case struct {
	Name        string          `json:"-"`
	Description string          `json:"description"`
	Decision    string          `json:"decision"`
	Now         *string         `json:"now"`
	Tenant      *string         `json:"tenant"`
	Config      json.RawMessage `json:"config"`
	Request     json.RawMessage `json:"request"`
	Expect      Expect          `json:"expect"`
	hasConfig   bool
}

// Expect is exactly one of Decision, Error or Matches.
type Expect struct {
	Decision json.RawMessage            `json:"decision"`
	Error    *ExpectError               `json:"error"`
	Matches  map[string]json.RawMessage `json:"matches"`
}

// ExpectError names the error kind and, for declined and config_rejected, optionally the code.
type ExpectError struct {
	Kind string  `json:"kind"`
	Code *string `json:"code"`
}

// Result is what one case produced: a decision, or an error of a kind with a code.
type Result struct {
	Decision any
	Kind     string
	Code     string
	Message  string
}

// LoadDir reads suite.json and every other *.json file of dir, in file-name order.
func LoadDir(dir string) (Suite, []Case, error) {
	var suite Suite
	if b, err := os.ReadFile(filepath.Join(dir, "suite.json")); err == nil {
		if err := strict(b, &suite); err != nil {
			return suite, nil, fmt.Errorf("%s/suite.json: %w", dir, err)
		}
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return suite, nil, err
	}
	sort.Strings(names)
	var cases []Case
	for _, path := range names {
		if filepath.Base(path) == "suite.json" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return suite, nil, err
		}
		var c Case
		if err := strict(b, &c); err != nil {
			return suite, nil, fmt.Errorf("%s: %w", path, err)
		}
		var keys map[string]json.RawMessage
		_ = json.Unmarshal(b, &keys)
		_, c.hasConfig = keys["config"]
		n := 0
		if c.Expect.Decision != nil {
			n++
		}
		if c.Expect.Error != nil {
			n++
		}
		if c.Expect.Matches != nil {
			n++
		}
		if n != 1 {
			return suite, nil, fmt.Errorf("%s: expect needs exactly one of decision, error, matches", path)
		}
		c.Name = strings.TrimSuffix(filepath.Base(path), ".json")
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		return suite, nil, fmt.Errorf("%s: no fixture cases (*.json besides suite.json)", dir)
	}
	return suite, cases, nil
}

// Run runs one case through fleetward.Dispatch with the suite's defaults applied.
func Run(suite Suite, c Case) (Result, error) {
	now := c.Now
	if now == nil {
		now = suite.Now
	}
	if now == nil {
		return Result{}, fmt.Errorf("%s: no `now` in the case or suite.json", c.Name)
	}
	tenant := "test"
	if suite.Tenant != nil {
		tenant = *suite.Tenant
	}
	if c.Tenant != nil {
		tenant = *c.Tenant
	}
	config := suite.Config
	if c.hasConfig {
		config = c.Config
	}
	if len(config) == 0 {
		config = json.RawMessage("null")
	}
	call := func(kind fleetward.Call, request json.RawMessage) (json.RawMessage, *fleetward.Error, error) {
		env, err := json.Marshal(map[string]any{
			"abi_version": fleetward.ABIVersion, "decision": kind, "now": *now,
			"tenant": tenant, "config": config, "request": request,
		})
		if err != nil {
			return nil, nil, err
		}
		var out struct {
			Ok    json.RawMessage  `json:"ok"`
			Error *fleetward.Error `json:"error"`
		}
		if err := json.Unmarshal(fleetward.Dispatch(kind, env), &out); err != nil {
			return nil, nil, fmt.Errorf("the policy's output is not an envelope: %w", err)
		}
		return out.Ok, out.Error, nil
	}
	if _, perr, err := call(fleetward.CallValidateConfig, json.RawMessage("null")); err != nil {
		return Result{}, err
	} else if perr != nil {
		return Result{Kind: "config_rejected", Code: perr.Code, Message: perr.Message}, nil
	}
	kind := fleetward.Call(c.Decision)
	if !fleetward.Implements(kind) {
		return Result{Kind: "decision_not_implemented"}, nil
	}
	ok, perr, err := call(kind, c.Request)
	if err != nil {
		return Result{}, err
	}
	if perr != nil {
		return Result{Kind: "declined", Code: perr.Code, Message: perr.Message}, nil
	}
	var decision any
	if err := json.Unmarshal(ok, &decision); err != nil {
		return Result{}, err
	}
	return Result{Decision: decision}, nil
}

// Check compares a result with the case's expectation; the returned lines say what differs.
func Check(c Case, r Result) []string {
	switch {
	case c.Expect.Error != nil:
		e := c.Expect.Error
		if r.Kind != e.Kind {
			return []string{fmt.Sprintf("expected error kind %s, got %s", e.Kind, describe(r))}
		}
		if e.Code != nil && (r.Kind == "declined" || r.Kind == "config_rejected") && r.Code != *e.Code {
			return []string{fmt.Sprintf("expected code %s, got %s", *e.Code, describe(r))}
		}
		return nil
	case r.Kind != "":
		return []string{"expected a decision, got " + describe(r)}
	case c.Expect.Decision != nil:
		var want any
		if err := json.Unmarshal(c.Expect.Decision, &want); err != nil {
			return []string{err.Error()}
		}
		if !reflect.DeepEqual(want, r.Decision) {
			return []string{"decision differs", "expected: " + pretty(want), "actual:   " + pretty(r.Decision)}
		}
		return nil
	default:
		var failures []string
		pointers := make([]string, 0, len(c.Expect.Matches))
		for p := range c.Expect.Matches {
			pointers = append(pointers, p)
		}
		sort.Strings(pointers)
		for _, p := range pointers {
			if msg := match(r.Decision, p, c.Expect.Matches[p]); msg != "" {
				failures = append(failures, p+": "+msg)
			}
		}
		if failures != nil {
			failures = append(failures, "actual decision: "+pretty(r.Decision))
		}
		return failures
	}
}

// RunFixtures runs every case of dir as a subtest.
func RunFixtures(t *testing.T, dir string) {
	t.Helper()
	suite, cases, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r, err := Run(suite, c)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range Check(c, r) {
				t.Error(line)
			}
		})
	}
}

func describe(r Result) string {
	if r.Kind == "" {
		return "a decision: " + pretty(r.Decision)
	}
	if r.Code != "" {
		return fmt.Sprintf("%s (%s): %s", r.Kind, r.Code, r.Message)
	}
	return r.Kind
}

func pretty(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// match checks one `matches` entry: a plain value means equality; {"$len": n} and
// {"$contains": x} as in docs/policy-testing.md.
func match(doc any, pointer string, want json.RawMessage) string {
	got, ok := resolve(doc, pointer)
	if !ok {
		return "no such path in the decision"
	}
	var op map[string]json.RawMessage
	if json.Unmarshal(want, &op) == nil && len(op) == 1 {
		if raw, ok := op["$len"]; ok {
			var n int
			if err := json.Unmarshal(raw, &n); err != nil {
				return "bad $len: " + err.Error()
			}
			l := -1
			switch g := got.(type) {
			case []any:
				l = len(g)
			case map[string]any:
				l = len(g)
			case string:
				l = len([]rune(g))
			}
			if l != n {
				return fmt.Sprintf("expected length %d, got %s", n, pretty(got))
			}
			return ""
		}
		if raw, ok := op["$contains"]; ok {
			var x any
			_ = json.Unmarshal(raw, &x)
			switch g := got.(type) {
			case string:
				if s, ok := x.(string); ok && strings.Contains(g, s) {
					return ""
				}
			case []any:
				for _, e := range g {
					if reflect.DeepEqual(e, x) {
						return ""
					}
				}
			}
			return fmt.Sprintf("expected to contain %s, got %s", raw, pretty(got))
		}
	}
	var w any
	if err := json.Unmarshal(want, &w); err != nil {
		return err.Error()
	}
	if !reflect.DeepEqual(w, got) {
		return fmt.Sprintf("expected %s, got %s", want, pretty(got))
	}
	return ""
}

// resolve follows an RFC 6901 JSON pointer.
func resolve(doc any, pointer string) (any, bool) {
	if pointer == "" {
		return doc, true
	}
	if !strings.HasPrefix(pointer, "/") {
		return nil, false
	}
	cur := doc
	for _, tok := range strings.Split(pointer[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

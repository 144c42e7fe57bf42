;; A broken upgrade-ordering policy for the trapping-policy scenario: it passes the load-time
;; checks (ABI v1 exports, no imports) but traps on every decision, the way a policy with an
;; out-of-bounds bug or an `unreachable` panic path does. The host must fall back or hold per
;; the tenant's failure mode, and other tenants must not notice.
(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (func (export "fleetward_abi_version") (result i32) (i32.const 1))
  (func (export "fleetward_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (local.get $p))
  (func $panic (param $ptr i32) (param $len i32) (result i64)
    unreachable)
  (func (export "fleetward_order_upgrades") (param $ptr i32) (param $len i32) (result i64)
    (call $panic (local.get $ptr) (local.get $len))))

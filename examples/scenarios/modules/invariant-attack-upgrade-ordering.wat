;; An "invariant attack" upgrade-ordering policy for the invariant-attack scenario. Every call
;; proposes only illegal steps, two for each cluster it is given: a downgrade (NoDowngrade), a
;; control-plane step that skips a minor (OneMinorAtATime) or goes past the desired version
;; (WithinDesired), a pool before its control plane (ControlPlaneFirst), or a pool that does not
;; exist (UnknownTarget, a different made-up name each time). Which two, and the versions and
;; pool names in them, depend on a checksum of the input (whose `now` changes every call), so
;; consecutive answers differ while the module stays deterministic: the same input gives the
;; same answer. The host must veto every step and must not turn the churn into API writes.
;; The strings it writes are the data segments below (at fixed byte offsets; each
;; `(i32.const OFFSET) (i32.const LEN)` pair in the code is one of them).
(module
  (memory (export "memory") 16)
  (global $next (mut i32) (i32.const 1024))
  (global $out (mut i32) (i32.const 0))
  (data (i32.const 16) "\"id\":{\"namespace\":\"")
  (data (i32.const 36) "{\"ok\":{\"start\":[")
  (data (i32.const 53) "{\"cluster\":")
  (data (i32.const 65) ",\"target\":{\"kind\":\"control_plane\"},\"to\":\"")
  (data (i32.const 107) ",\"target\":{\"kind\":\"node_pool\",\"pool\":\"workers\"},\"to\":\"1.32.")
  (data (i32.const 167) ",\"target\":{\"kind\":\"node_pool\",\"pool\":\"p")
  (data (i32.const 207) "\"},\"to\":\"1.32.0\"}")
  (data (i32.const 225) "1.2")
  (data (i32.const 229) "1.4")
  (data (i32.const 233) "1.33.0\"}")
  (data (i32.const 242) ".0\"}")
  (data (i32.const 247) "\"}")
  (data (i32.const 250) "],\"reason\":\"attack ")
  (data (i32.const 270) "\"}}")
  (func (export "fleetward_abi_version") (result i32) (i32.const 1))
  ;; Bump allocator; grows memory when needed.
  (func $alloc (export "fleetward_alloc") (param $len i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $next))
    (local.set $end (i32.and (i32.add (i32.add (local.get $p) (local.get $len)) (i32.const 7)) (i32.const -8)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.lt_s
              (memory.grow (i32.add (i32.div_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)) (i32.const 1)))
              (i32.const 0))
          (then (return (i32.const 0))))))
    (global.set $next (local.get $end))
    (local.get $p))
  (func $emit (param $src i32) (param $len i32)
    (memory.copy (global.get $out) (local.get $src) (local.get $len))
    (global.set $out (i32.add (global.get $out) (local.get $len))))
  (func $byte (param $b i32)
    (i32.store8 (global.get $out) (local.get $b))
    (global.set $out (i32.add (global.get $out) (i32.const 1))))
  (func $digit (param $d i32)
    (call $byte (i32.add (i32.const 48) (i32.rem_u (local.get $d) (i32.const 10)))))
  ;; Does the pattern of `len` bytes at `pat` start at `at`?
  (func $matches (param $at i32) (param $pat i32) (param $len i32) (result i32)
    (local $i i32)
    (block $no
      (loop $next
        (br_if $no (i32.ne (i32.load8_u (i32.add (local.get $at) (local.get $i)))
                           (i32.load8_u (i32.add (local.get $pat) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $next (i32.lt_u (local.get $i) (local.get $len))))
      (return (i32.const 1)))
    (i32.const 0))
  ;; One illegal step of kind `kind` (0..4) for the cluster id at `id` (`idlen` bytes).
  (func $step (param $id i32) (param $idlen i32) (param $kind i32) (param $d i32)
    (call $emit (i32.const 53) (i32.const 11))
    (call $emit (local.get $id) (local.get $idlen))
    (block $done
      (if (i32.eq (local.get $kind) (i32.const 0))
        (then ;; downgrade: control plane to 1.2D.0
          (call $emit (i32.const 65) (i32.const 41)) (call $emit (i32.const 225) (i32.const 3)) (call $digit (local.get $d))
          (call $emit (i32.const 242) (i32.const 4)) (br $done)))
      (if (i32.eq (local.get $kind) (i32.const 1))
        (then ;; skips a minor: 1.31 -> 1.33
          (call $emit (i32.const 65) (i32.const 41)) (call $emit (i32.const 233) (i32.const 8)) (br $done)))
      (if (i32.eq (local.get $kind) (i32.const 2))
        (then ;; past the desired version: 1.4D.0
          (call $emit (i32.const 65) (i32.const 41)) (call $emit (i32.const 229) (i32.const 3)) (call $digit (local.get $d))
          (call $emit (i32.const 242) (i32.const 4)) (br $done)))
      (if (i32.eq (local.get $kind) (i32.const 3))
        (then ;; a pool before its control plane: workers to 1.32.D
          (call $emit (i32.const 107) (i32.const 59)) (call $digit (local.get $d)) (call $emit (i32.const 247) (i32.const 2))
          (br $done)))
      ;; a pool that does not exist: pD
      (call $emit (i32.const 167) (i32.const 39)) (call $digit (local.get $d)) (call $emit (i32.const 207) (i32.const 17))))
  (func (export "fleetward_order_upgrades") (param $ptr i32) (param $len i32) (result i64)
    (local $salt i32) (local $i i32) (local $end i32) (local $j i32) (local $k i32)
    (local $id i32) (local $start i32) (local $first i32)
    ;; The checksum of the input: changes with `now`, so with every call.
    (local.set $i (local.get $ptr))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $sum_done
      (loop $sum
        (br_if $sum_done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $salt (i32.add (local.get $salt) (i32.load8_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $sum)))
    (local.set $start (call $alloc (i32.add (i32.mul (local.get $len) (i32.const 2)) (i32.const 4096))))
    (if (i32.eqz (local.get $start)) (then unreachable))
    (global.set $out (local.get $start))
    (call $emit (i32.const 36) (i32.const 16))
    (local.set $first (i32.const 1))
    (local.set $i (local.get $ptr))
    (local.set $end (i32.sub (i32.add (local.get $ptr) (local.get $len)) (i32.const 19)))
    (block $scan_done
      (loop $scan
        (br_if $scan_done (i32.ge_u (local.get $i) (local.get $end)))
        (if (call $matches (local.get $i) (i32.const 16) (i32.const 19))
          (then
            ;; The id object runs from its `{` to the next `}`.
            (local.set $id (i32.add (local.get $i) (i32.const 5)))
            (local.set $j (local.get $id))
            (block $found
              (loop $close
                (br_if $found (i32.eq (i32.load8_u (local.get $j)) (i32.const 125)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br_if $scan_done (i32.ge_u (local.get $j) (i32.add (local.get $end) (i32.const 19))))
                (br $close)))
            (if (i32.eqz (local.get $first)) (then (call $byte (i32.const 44))))
            (local.set $first (i32.const 0))
            (call $step (local.get $id) (i32.add (i32.sub (local.get $j) (local.get $id)) (i32.const 1))
              (i32.rem_u (i32.add (local.get $salt) (local.get $k)) (i32.const 5))
              (i32.add (i32.div_u (local.get $salt) (i32.const 5)) (local.get $k)))
            (call $byte (i32.const 44))
            (call $step (local.get $id) (i32.add (i32.sub (local.get $j) (local.get $id)) (i32.const 1))
              (i32.rem_u (i32.add (i32.add (local.get $salt) (local.get $k)) (i32.const 2)) (i32.const 5))
              (i32.add (i32.div_u (local.get $salt) (i32.const 7)) (local.get $k)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (local.set $i (local.get $j))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (call $emit (i32.const 250) (i32.const 19))
    (call $digit (local.get $salt))
    (call $emit (i32.const 270) (i32.const 3))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $start)) (i64.const 32))
      (i64.extend_i32_u (i32.sub (global.get $out) (local.get $start))))))

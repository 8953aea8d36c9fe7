;; Denies a claimed open with EACCES at once, except when the request is longer than 150 bytes
;; (a long path): then it never returns, and must be stopped by the per-call deadline. So the
;; same instance answers fast calls and then a runaway one.
(module
  (import "scrim_v1" "describe_set" (func $describe_set (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"claims\":[\"/t/**\"]}")
  (func (export "scrim_abi_v1"))
  (func (export "scrim_describe") (result i32)
    (drop (call $describe_set (i32.const 0) (i32.const 20)))
    (i32.const 0))
  (func (export "scrim_init") (param i32) (result i32) (i32.const 0))
  (func (export "scrim_open") (param $len i32) (result i32)
    (if (i32.gt_u (local.get $len) (i32.const 150))
      (then (loop $l (br $l))))
    (i32.const -13)))

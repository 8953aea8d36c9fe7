;; loop, with a SIMD instruction scrim's stop checks do not rewrite: it runs with wazero's
;; checks instead, and scrim_open must still be stopped by the per-call deadline.
(module
  (import "scrim_v1" "describe_set" (func $describe_set (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"claims\":[\"/t/**\"]}")
  (func (export "scrim_abi_v1"))
  (func (export "scrim_describe") (result i32)
    (drop (call $describe_set (i32.const 0) (i32.const 20)))
    (i32.const 0))
  (func (export "scrim_init") (param i32) (result i32)
    (drop (v128.const i32x4 0 0 0 0))
    (i32.const 0))
  (func (export "scrim_open") (param i32) (result i32) (loop $l (br $l)) (i32.const 0)))

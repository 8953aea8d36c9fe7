;; Claims a pattern with a NUL byte in it.
(module
  (import "scrim_v1" "describe_set" (func $describe_set (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"claims\":[\"/t/a\\u0000b\"]}")
  (func (export "scrim_abi_v1"))
  (func (export "scrim_describe") (result i32)
    (drop (call $describe_set (i32.const 0) (i32.const 26)))
    (i32.const 0))
  (func (export "scrim_init") (param i32) (result i32) (i32.const 0))
  (func (export "scrim_open") (param i32) (result i32) (i32.const 0)))

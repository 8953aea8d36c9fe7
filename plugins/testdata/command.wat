;; A WASI command (only _start), not a reactor library.
(module
  (import "scrim_v1" "describe_set" (func $describe_set (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"claims\":[\"/t/**\"]}")
  (func (export "scrim_abi_v1"))
  (func (export "scrim_describe") (result i32)
    (drop (call $describe_set (i32.const 0) (i32.const 20)))
    (i32.const 0))
  (func (export "scrim_init") (param i32) (result i32) (i32.const 0))
  (func (export "_start"))
  (func (export "scrim_open") (param i32) (result i32) (i32.const 0)))

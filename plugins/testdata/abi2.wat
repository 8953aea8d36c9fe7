;; Speaks a future ABI major version.
(module
  (import "scrim_v1" "describe_set" (func $describe_set (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "scrim_abi_v2"))
  (func (export "scrim_describe") (result i32) (i32.const 0))
  (func (export "scrim_init") (param i32) (result i32) (i32.const 0))
  (func (export "scrim_open") (param i32) (result i32) (i32.const 0)))

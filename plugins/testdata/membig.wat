;; Declares more initial memory (3000 pages, 187.5 MiB) than the default cap allows.
(module
  (import "scrim_v1" "describe_set" (func $describe_set (param i32 i32) (result i32)))
  (memory (export "memory") 3000)
  (data (i32.const 0) "{\"claims\":[\"/t/**\"]}")
  (func (export "scrim_abi_v1"))
  (func (export "scrim_describe") (result i32)
    (drop (call $describe_set (i32.const 0) (i32.const 20)))
    (i32.const 0))
  (func (export "scrim_init") (param i32) (result i32) (i32.const 0))
  (func (export "scrim_open") (param i32) (result i32) (i32.const 0)))

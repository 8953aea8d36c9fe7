;; Writes 2 MiB of content, past the 1 MiB cap.
(module
  (import "scrim_v1" "describe_set" (func $describe_set (param i32 i32) (result i32)))
  (import "scrim_v1" "content_write" (func $content_write (param i32 i32) (result i32)))
  (memory (export "memory") 40)
  (data (i32.const 0) "{\"claims\":[\"/t/**\"]}")
  (func (export "scrim_abi_v1"))
  (func (export "scrim_describe") (result i32)
    (drop (call $describe_set (i32.const 0) (i32.const 20)))
    (i32.const 0))
  (func (export "scrim_init") (param i32) (result i32) (i32.const 0))
  (func (export "scrim_open") (param i32) (result i32) (drop (call $content_write (i32.const 65536) (i32.const 2097152))) (i32.const 1)))

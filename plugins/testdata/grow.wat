;; Grows its memory by 16 MiB (256 pages) in every open and keeps it: EACCES when the memory
;; grew, ENOMEM when memory.grow failed. The memory total's test.
(module
  (import "scrim_v1" "describe_set" (func $describe_set (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"claims\":[\"/t/**\"]}")
  (func (export "scrim_abi_v1"))
  (func (export "scrim_describe") (result i32)
    (drop (call $describe_set (i32.const 0) (i32.const 20)))
    (i32.const 0))
  (func (export "scrim_init") (param i32) (result i32) (i32.const 0))
  (func (export "scrim_open") (param i32) (result i32)
    (if (result i32) (i32.eq (memory.grow (i32.const 256)) (i32.const -1))
      (then (i32.const -12))
      (else (i32.const -13)))))

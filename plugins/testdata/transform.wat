;; Reads the real file (READ_REAL), then serves "real:" followed by its content, or denies with
;; the errno the real read gave.
(module
  (import "scrim_v1" "describe_set" (func $describe_set (param i32 i32) (result i32)))
  (import "scrim_v1" "request_read" (func $request_read (param i32 i32) (result i32)))
  (import "scrim_v1" "real_read" (func $real_read (param i32 i32 i32) (result i32)))
  (import "scrim_v1" "content_write" (func $content_write (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "{\"claims\":[\"/t/**\"]}")
  (data (i32.const 32) "real:")
  (func (export "scrim_abi_v1"))
  (func (export "scrim_describe") (result i32)
    (drop (call $describe_set (i32.const 0) (i32.const 20)))
    (i32.const 0))
  (func (export "scrim_init") (param i32) (result i32) (i32.const 0))
  (func (export "scrim_open") (param $len i32) (result i32)
    (local $n i32)
    (drop (call $request_read (i32.const 1024) (i32.const 1024)))
    ;; phase 0: ask for the real content
    (if (i32.eqz (i32.load (i32.const 1032))) (then (return (i32.const 3))))
    ;; phase 1: real_errno at offset 68
    (if (i32.ne (i32.load (i32.const 1092)) (i32.const 0))
      (then (return (i32.sub (i32.const 0) (i32.load (i32.const 1092))))))
    (local.set $n (call $real_read (i32.const 4096) (i32.const 61440) (i32.const 0)))
    (drop (call $content_write (i32.const 32) (i32.const 5)))
    (drop (call $content_write (i32.const 4096) (local.get $n)))
    (i32.const 1)))

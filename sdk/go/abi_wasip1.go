//go:build wasip1

package plugin

import "unsafe"

// The scrim_v1 imports (plugins/ABI.md §8).

//go:wasmimport scrim_v1 describe_set
func describeSet(ptr unsafe.Pointer, n int32) int32

//go:wasmimport scrim_v1 config_read
func configRead(ptr unsafe.Pointer, capacity int32) int32

//go:wasmimport scrim_v1 config_get
func configGet(key unsafe.Pointer, keyLen int32, ptr unsafe.Pointer, capacity int32) int32

//go:wasmimport scrim_v1 request_read
func requestRead(ptr unsafe.Pointer, capacity int32) int32

//go:wasmimport scrim_v1 real_read
func realRead(ptr unsafe.Pointer, capacity int32, offset int32) int32

//go:wasmimport scrim_v1 content_write
func contentWrite(ptr unsafe.Pointer, n int32) int32

//go:wasmimport scrim_v1 set_mode
func setMode(mode int32) int32

//go:wasmimport scrim_v1 set_size
func setSize(size int64) int32

//go:wasmimport scrim_v1 set_mtime
func setMtime(sec int64, nsec int32) int32

//go:wasmimport scrim_v1 error_set
func errorSet(ptr unsafe.Pointer, n int32) int32

// Buffers the host copies into. They are package variables so that Go's garbage collector
// keeps them alive and in place while the host writes (plugins/ABI.md: the plugin owns its memory).
var (
	reqBuf  = make([]byte, 8<<10)
	realBuf []byte
	cfgBuf  []byte
)

func bufPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func setError(msg string) {
	b := []byte(msg)
	errorSet(bufPtr(b), int32(len(b)))
}

//go:wasmexport scrim_abi_v1
func abiV1() {}

//go:wasmexport scrim_describe
func scrimDescribe() int32 {
	if registered == nil {
		setError("plugin: no plugin registered (call plugin.Register from an init function)")
		return 1
	}
	claims, minor := registered.Claims, 0
	if registered.ClaimsFrom != nil {
		// ABI 1.1: the configuration is readable in scrim_describe.
		minor = 1
		n := configRead(nil, 0)
		if n < 0 {
			setError("plugin: ClaimsFrom needs scrim 1.1 or later (the configuration is not readable in describe)")
			return 1
		}
		raw := make([]byte, n)
		configRead(bufPtr(raw), n)
		more, err := registered.ClaimsFrom(Config{raw: raw, get: getConfig})
		if err != nil {
			setError(err.Error())
			return 1
		}
		claims = append(append([]string(nil), claims...), more...)
	}
	doc := describeJSON(registered, claims, minor)
	if describeSet(bufPtr(doc), int32(len(doc))) != 0 {
		return 1
	}
	return 0
}

//go:wasmexport scrim_init
func scrimInit(n int32) int32 {
	if registered == nil {
		setError("plugin: no plugin registered")
		return 1
	}
	cfgBuf = make([]byte, n)
	if got := configRead(bufPtr(cfgBuf), n); got != n {
		setError("plugin: configuration changed size while read")
		return 1
	}
	if registered.Init == nil {
		return 0
	}
	if err := registered.Init(Config{raw: cfgBuf, get: getConfig}); err != nil {
		setError(err.Error())
		return 1
	}
	return 0
}

func getConfig(key string) (string, bool) {
	k := []byte(key)
	buf := make([]byte, 256)
	for {
		n := configGet(bufPtr(k), int32(len(k)), bufPtr(buf), int32(len(buf)))
		if n < 0 {
			return "", false
		}
		if int(n) <= len(buf) {
			return string(buf[:n]), true
		}
		buf = make([]byte, n)
	}
}

//go:wasmexport scrim_open
func scrimOpen(n int32) int32 {
	if int(n) > len(reqBuf) {
		reqBuf = make([]byte, n)
	}
	blob := reqBuf[:n]
	if requestRead(bufPtr(blob), n) != n {
		setError("plugin: request changed size while read")
		return codeFail
	}
	var req Request
	if err := decodeRequest(blob, &req); err != nil {
		setError(err.Error())
		return codeFail
	}
	if phase, realLen, errno, truncated := realInfo(blob); phase == 1 {
		if cap(realBuf) < int(realLen) {
			realBuf = make([]byte, realLen)
		}
		data := realBuf[:realLen]
		for off := 0; off < len(data); {
			got := realRead(bufPtr(data[off:]), int32(len(data)-off), int32(off))
			if got <= 0 {
				setError("plugin: real content ended early")
				return codeFail
			}
			off += int(got)
		}
		req.Real = &RealFile{Data: data, Errno: errno, Truncated: truncated}
	}
	v := registered.Open(&req)
	switch v.code {
	case codeServe:
		if len(v.content) > 0 && contentWrite(bufPtr(v.content), int32(len(v.content))) != 0 {
			setError("plugin: content refused (larger than 1 MiB?)")
			return codeFail
		}
		switch {
		case v.dir:
			setMode(int32(0o040000 | v.mode))
		case v.mode != 0o444:
			setMode(int32(v.mode))
		}
		if v.size >= 0 {
			setSize(v.size)
		}
		if v.hasMtime && setMtime(v.mtimeSec, v.mtimeNsec) != 0 {
			setError("plugin: modification time refused (nanoseconds outside 0..999999999?)")
			return codeFail
		}
	case codeFail:
		setError(v.reason)
	}
	return v.code
}

//go:wasmimport scrim_v1 log
func logImport(level int32, ptr unsafe.Pointer, n int32) int32

func logLine(level Level, msg string) {
	b := []byte(msg)
	logImport(int32(level), bufPtr(b), int32(len(b)))
}

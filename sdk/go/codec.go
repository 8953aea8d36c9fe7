package plugin

import (
	"encoding/binary"
	"errors"
)

// Config is a plugin's configuration, the user's [plugin.config] table.
type Config struct {
	raw []byte
	get func(key string) (string, bool)
}

// JSON returns the whole configuration as a JSON object, for encoding/json.Unmarshal.
func (c Config) JSON() []byte { return c.raw }

// Get returns a top-level value as text: a string as it is, a number or boolean as written in
// JSON, an array or table as JSON. ok is false when the key is absent.
func (c Config) Get(key string) (value string, ok bool) {
	if c.get == nil {
		return "", false
	}
	return c.get(key)
}

// The request header (plugins/ABI.md §6): 80 bytes in ABI 1.0, 88 from 1.1 on (op).
const (
	headerV1  = 80
	headerV11 = 88
)

var errShortRequest = errors.New("plugin: request shorter than its header")

// decodeRequest parses a request blob. It copies nothing: the result points into blob.
func decodeRequest(blob []byte, req *Request) error {
	le := binary.LittleEndian
	if len(blob) < headerV1 {
		return errShortRequest
	}
	hs := le.Uint32(blob[0:])
	if hs < headerV1 || int(hs) > len(blob) {
		return errShortRequest
	}
	*req = Request{
		Syscall:    Syscall(le.Uint32(blob[12:])),
		Flags:      le.Uint64(blob[16:]),
		Mode:       le.Uint32(blob[24:]),
		ObjectMode: le.Uint32(blob[28:]),
		PID:        int32(le.Uint32(blob[32:])),
		TID:        int32(le.Uint32(blob[36:])),
		UID:        le.Uint32(blob[40:]),
		GID:        le.Uint32(blob[44:]),
	}
	if hs >= headerV11 {
		req.Op = Op(le.Uint32(blob[80:]))
	}
	var ok bool
	if req.Path, ok = span(blob, le.Uint32(blob[48:]), le.Uint32(blob[52:])); !ok {
		return errors.New("plugin: request path outside the request")
	}
	sb, ok := span(blob, le.Uint32(blob[56:]), le.Uint32(blob[60:]))
	if !ok {
		return errors.New("plugin: request sandbox name outside the request")
	}
	req.Sandbox = string(sb)
	return nil
}

// realInfo returns the phase and the READ_REAL fields of a request blob.
func realInfo(blob []byte) (phase uint32, realLen uint32, errno Errno, truncated bool) {
	le := binary.LittleEndian
	return le.Uint32(blob[8:]), le.Uint32(blob[64:]), Errno(int32(le.Uint32(blob[68:]))), le.Uint32(blob[72:])&1 != 0
}

func span(b []byte, off, n uint32) ([]byte, bool) {
	end := uint64(off) + uint64(n)
	if end > uint64(len(b)) {
		return nil, false
	}
	return b[off:end], true
}

// describeJSON encodes the describe document (plugins/ABI.md §4) without encoding/json, which would
// make every plugin larger.
func describeJSON(p *Plugin, claims []string, minor int) []byte {
	b := []byte(`{"name":`)
	b = appendJSONString(b, p.Name)
	b = append(b, `,"version":`...)
	b = appendJSONString(b, p.Version)
	b = append(b, `,"abi_minor":`...)
	b = append(b, itoa(int64(minor))...)
	b = append(b, `,"claims":[`...)
	for i, c := range claims {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, c)
	}
	return append(b, "]}"...)
}

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var buf [20]byte
	i := len(buf)
	for v > 0 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

package plugins

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// sig is a function type written as in WebAssembly text: "(i32,i32)->(i32)".
type sig string

func sigOf(d api.FunctionDefinition) sig {
	return sig(typesString(d.ParamTypes()) + "->" + typesString(d.ResultTypes()))
}

func typesString(ts []api.ValueType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = api.ValueTypeName(t)
	}
	return "(" + strings.Join(names, ",") + ")"
}

// requiredExports are the function exports ABI v1 requires, with their types.
var requiredExports = []struct {
	name string
	sig  sig
}{
	{markerV1, "()->()"},
	{exportDesc, "()->(i32)"},
	{exportInit, "(i32)->(i32)"},
	{exportOpen, "(i32)->(i32)"},
}

// allowedImports is every function a plugin may import, by module and name, with its type.
// Anything else is refused at load: a plugin gets no capability scrim did not list here.
var allowedImports = map[string]map[string]sig{
	importV1: {
		"describe_set":   "(i32,i32)->(i32)",
		"config_read":    "(i32,i32)->(i32)",
		"config_get":     "(i32,i32,i32,i32)->(i32)",
		"request_read":   "(i32,i32)->(i32)",
		"real_read":      "(i32,i32,i32)->(i32)",
		"content_write":  "(i32,i32)->(i32)",
		"set_mode":       "(i32)->(i32)",
		"set_size":       "(i64)->(i32)",
		"set_mtime":      "(i64,i32)->(i32)",
		"error_set":      "(i32,i32)->(i32)",
		"log":            "(i32,i32,i32)->(i32)",
		"host_abi_minor": "()->(i32)",
	},
	// WASI preview 1 as wazero implements it. It is configured with no files, environment,
	// arguments or sockets, so these give a language runtime what it needs to start and
	// nothing of the host. Types are checked by wazero when it links the module.
	"wasi_snapshot_preview1": wasiNames(
		"args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_res_get",
		"clock_time_get", "fd_advise", "fd_allocate", "fd_close", "fd_datasync",
		"fd_fdstat_get", "fd_fdstat_set_flags", "fd_fdstat_set_rights", "fd_filestat_get",
		"fd_filestat_set_size", "fd_filestat_set_times", "fd_pread", "fd_prestat_get",
		"fd_prestat_dir_name", "fd_pwrite", "fd_read", "fd_readdir", "fd_renumber", "fd_seek",
		"fd_sync", "fd_tell", "fd_write", "path_create_directory", "path_filestat_get",
		"path_filestat_set_times", "path_link", "path_open", "path_readlink",
		"path_remove_directory", "path_rename", "path_symlink", "path_unlink_file",
		"poll_oneoff", "proc_exit", "proc_raise", "sched_yield", "random_get", "sock_accept",
		"sock_recv", "sock_send", "sock_shutdown"),
	// What AssemblyScript programs import.
	"env": {
		"abort": "(i32,i32,i32,i32)->()",
		"trace": "(i32,i32,f64,f64,f64,f64,f64)->()",
		"seed":  "()->(f64)",
	},
}

func wasiNames(names ...string) map[string]sig {
	m := make(map[string]sig, len(names))
	for _, n := range names {
		m[n] = ""
	}
	return m
}

// moduleProblems lists every way the compiled module breaks ABI v1 (ABI.md §2, §8). An empty
// list means it may be instantiated.
func moduleProblems(m wazero.CompiledModule) []string {
	var problems []string
	exports := m.ExportedFunctions()
	if _, ok := m.ExportedMemories()["memory"]; !ok {
		problems = append(problems, `exports no memory named "memory"`)
	}
	if _, ok := exports[markerV1]; !ok {
		var other []string
		for name := range exports {
			if strings.HasPrefix(name, "scrim_abi_v") {
				other = append(other, name)
			}
		}
		sort.Strings(other)
		if len(other) > 0 {
			problems = append(problems, fmt.Sprintf("speaks ABI %s, this scrim implements %s",
				strings.Join(other, ", "), markerV1))
		} else {
			problems = append(problems, fmt.Sprintf("exports no %s marker: it is not a scrim plugin or was built for another ABI", markerV1))
		}
	}
	_, hasStart := exports[exportStart]
	_, hasInit := exports[exportInitz]
	if hasStart && !hasInit {
		problems = append(problems, "is a WASI command (exports _start but not _initialize): build it as a reactor library")
	}
	if d, ok := exports[exportInitz]; ok && sigOf(d) != "()->()" {
		problems = append(problems, fmt.Sprintf("export _initialize has type %s, want ()->()", sigOf(d)))
	}
	for _, want := range requiredExports {
		d, ok := exports[want.name]
		if !ok {
			if want.name != markerV1 {
				problems = append(problems, fmt.Sprintf("misses the export %s %s", want.name, want.sig))
			}
			continue
		}
		if got := sigOf(d); got != want.sig {
			problems = append(problems, fmt.Sprintf("export %s has type %s, want %s", want.name, got, want.sig))
		}
	}
	for _, d := range m.ImportedFunctions() {
		mod, name, _ := d.Import()
		allowed, ok := allowedImports[mod][name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("imports %s.%s, which scrim does not provide to plugins", mod, name))
		case allowed != "" && sigOf(d) != allowed:
			problems = append(problems, fmt.Sprintf("imports %s.%s with type %s, want %s", mod, name, sigOf(d), allowed))
		}
	}
	for _, d := range m.ImportedMemories() {
		mod, name, _ := d.Import()
		problems = append(problems, fmt.Sprintf("imports memory %s.%s; a plugin must define and export its own", mod, name))
	}
	return problems
}

package testmods

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"

	"klpsim/kernel"
	"klpsim/kernel/kbuild"
)

// The catalog in C: c/NAME.c are the selftests' test modules written as
// upstream's are (their includes, macros and initializers), against
// klpsim's headers (include/linux). gcc builds them (kernel/kbuild) and
// the loader reads the ELF objects, so they need a host gcc; the assembly
// versions stay the default catalog for machines without one.

//go:embed c/*.c
var cSources embed.FS

// cSameSource are modules built from another's source under their own
// name, as upstream's test_klp_state3.c is `#include "test_klp_state2.c"`.
var cSameSource = map[string]string{"test_klp_state3": "test_klp_state2"}

// CNames lists the modules that have a C version, sorted.
func CNames() []string {
	ents, _ := cSources.ReadDir("c")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".c"))
	}
	for n := range cSameSource {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CSource is module name's C source.
func CSource(name string) ([]byte, error) {
	file := name
	if same, ok := cSameSource[name]; ok {
		file = same
	}
	data, err := cSources.ReadFile(path.Join("c", file+".c"))
	if err != nil {
		return nil, fmt.Errorf("testmods: no C source for %s", name)
	}
	return data, nil
}

// CSpec is module name built from its C source with gcc: what
// RegisterModule takes. The error wraps kbuild.ErrNoCompiler when gcc is
// missing.
func CSpec(name string) (kernel.ModuleSpec, error) {
	src, err := CSource(name)
	if err != nil {
		return kernel.ModuleSpec{}, err
	}
	ko, err := kbuild.Build(name, []kbuild.Source{{Name: name + ".c", Data: src}})
	if err != nil {
		return kernel.ModuleSpec{}, fmt.Errorf("testmods: %s: %w", name, err)
	}
	spec, err := kernel.ModuleFromELF(name, ko)
	if err != nil {
		return kernel.ModuleSpec{}, fmt.Errorf("testmods: %w", err)
	}
	return spec, nil
}

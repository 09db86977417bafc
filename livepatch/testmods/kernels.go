package testmods

import (
	"fmt"
	"sort"

	"klpsim/kernel"
)

// Each kernel version has its own test modules: the catalog of a version
// that differs from today's is listed here (by livepatch.Version name);
// any other version gets today's catalog.
var kernelCatalogs = map[string]map[string]func() module{
	"5.1":        v51Modules,
	"states-poc": statesPOCModules,
}

// inTree are the versions whose test modules are built with the kernel
// (lib/livepatch of v5.1 and of the POC's v6.6 base, CONFIG_TEST_LIVEPATCH=m): modinfo intree: Y, so
// loading them does not taint the kernel as out-of-tree.
var inTree = map[string]bool{"5.1": true, "states-poc": true}

func catalogOf(version string) map[string]func() module {
	if c, ok := kernelCatalogs[version]; ok {
		return c
	}
	return catalog
}

// NamesFor lists the modules of kernel version's catalog, sorted.
func NamesFor(version string) []string {
	c := catalogOf(version)
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SourceFor is Source in kernel version's catalog.
func SourceFor(version, name string) (kernel.ModuleSpec, string, error) {
	mk, ok := catalogOf(version)[name]
	if !ok {
		return kernel.ModuleSpec{}, "", fmt.Errorf("testmods: no module %s", name)
	}
	m := mk()
	m.spec.InTree = m.spec.InTree || inTree[version]
	return m.spec, m.src, nil
}

// SpecFor is Spec in kernel version's catalog.
func SpecFor(version, name string) (kernel.ModuleSpec, error) {
	spec, src, err := SourceFor(version, name)
	if err != nil {
		return spec, err
	}
	o, err := kernel.AssembleModule("test_modules/"+name+".S", []byte(src))
	if err != nil {
		return spec, fmt.Errorf("testmods: %w", err)
	}
	spec.Object, spec.Source = o, src
	return spec, nil
}

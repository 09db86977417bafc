package scenarios

import (
	"errors"

	"klpsim/kernel"
	"klpsim/livepatch/testmods"
)

// testmodsCatalog is the catalog of livepatch/testmods.
type testmodsCatalog struct{}

func (testmodsCatalog) Names() []string { return testmods.Names() }

func (testmodsCatalog) IsLivepatch(name string) (lp, ok bool) {
	spec, _, err := testmods.Source(name)
	if err != nil {
		return false, false
	}
	return spec.Livepatch, true
}

func (testmodsCatalog) Spec(name string) (kernel.ModuleSpec, error) { return testmods.Spec(name) }

func (testmodsCatalog) Program(name string) (kernel.UserProgram, bool, error) {
	for _, n := range testmods.ProgramNames() {
		if n == name {
			p, err := testmods.Program(name)
			return p, err == nil, err
		}
	}
	return kernel.UserProgram{}, false, errors.New("no such program")
}

// CCatalog is the built-in catalog with every module that has a C version
// (livepatch/testmods/c) built from it by gcc instead of assembled; the
// rest, and the user programs, are Builtin's.
var CCatalog Catalog = cCatalog{}

type cCatalog struct{ testmodsCatalog }

func (c cCatalog) Spec(name string) (kernel.ModuleSpec, error) {
	for _, n := range testmods.CNames() {
		if n == name {
			return testmods.CSpec(name)
		}
	}
	return c.testmodsCatalog.Spec(name)
}

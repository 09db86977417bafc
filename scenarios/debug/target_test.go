package debug

import (
	"strings"
	"testing"

	"klpsim/isa"
	"klpsim/kernel"
)

func TestParseAddress(t *testing.T) {
	k, err := kernel.Boot(kernel.Config{CPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	tg := &Target{K: k}
	msleep, _ := k.Sym("msleep")
	checkAddresses(t, tg, []addressCase{
		{in: "0x1000", want: 0x1000},
		{in: "4096", want: 4096},
		{in: "msleep", want: msleep},
		{in: "*msleep", want: msleep},
		{in: "msleep+0x5", want: msleep + 5},
		{in: "msleep+5", want: msleep + 5},
		{in: "vmlinux:msleep", want: msleep},
		{in: "", err: "an address or a symbol is needed"},
		{in: "$pc", err: "no task selected"},
		{in: "no_such_fn", err: `no symbol "no_such_fn"`},
		{in: "msleep+zz", err: `offset "zz" is not a number`},
		{in: "0xzz", err: "not a number"},
		{in: "nomod:msleep", err: `no symbol "msleep"`},
	})
}

func TestParseAddress_Registers(t *testing.T) {
	k, err := kernel.Boot(kernel.Config{CPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	task := k.TaskByPID(2)
	tg := &Target{K: k, Task: task}
	r, _ := k.TaskRegs(task)
	checkAddresses(t, tg, []addressCase{
		{in: "$pc", want: r.RIP},
		{in: "$rip+4", want: r.RIP + 4},
		{in: "$sp", want: r.R[isa.RSP]},
		{in: "$RBP", want: r.R[isa.RBP]},
		{in: "$r12", want: r.R[isa.R12]},
		{in: "*$pc", want: r.RIP},
		{in: "$xmm0", err: `no register "$xmm0"`},
	})
	if r.RIP == 0 {
		t.Error("kthreadd's saved rip is 0: the test proves nothing")
	}
}

type addressCase struct {
	in   string
	want uint64
	err  string // the error must contain it; "" for none
}

func checkAddresses(t *testing.T, tg *Target, cases []addressCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := ParseAddress(tg, tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseAddress(%q) = %#x, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseAddress(%q) = %#x, %v; want %#x", tc.in, got, err, tc.want)
		}
	}
}

package main

import (
	_ "embed"
	"flag"
	"fmt"
	"io"
	"time"

	"klpsim/emu"
	"klpsim/isa"
	"klpsim/isa/asm"
	"klpsim/isa/obj"
)

//go:embed demo/demo.S
var demoSource []byte

// cmdRun runs scenarios. Until the scenario language lands, the only
// scenario is the built-in demo, which runs when no FILE is given.
func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	maxInsns := fs.Uint64("max-insns", 100_000_000, "instruction limit per run")
	stats := fs.Bool("stats", false, "print insns=N seconds=S mips=M on stderr at the end")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "klpsim run: scenario files are not supported yet; run with no FILE for the built-in demo\n")
		return exitUsage
	}
	insns, elapsed, err := runDemo(stdout, *maxInsns)
	if err != nil {
		fmt.Fprintf(stderr, "klpsim run: %v\n", err)
		return exitFail
	}
	if *stats {
		printStats(stderr, insns, elapsed)
	}
	return exitOK
}

// Where the demo image lives: Linux's kernel text address, and a stack.
const (
	demoText  = 0xffffffff81000000
	demoStack = 0xffffc90000000000 + 4*emu.PageSize
)

// demoImage is the demo assembled and loaded into guest memory.
type demoImage struct {
	o     *obj.Object
	addrs []uint64 // load address of each section
	mem   *emu.Memory
}

func (d *demoImage) sym(name string) uint64 {
	a, ok := d.o.SymbolAddr(d.o.Lookup(name), d.addrs, nil)
	if !ok {
		panic("BUG: demo symbol " + name + " missing")
	}
	return a
}

// loadDemo assembles the demo, lays its sections out one after another on
// page boundaries from demoText, relocates and maps them.
func loadDemo() (*demoImage, error) {
	o, err := asm.Assemble("demo.S", demoSource)
	if err != nil {
		return nil, err
	}
	d := &demoImage{o: o, addrs: make([]uint64, len(o.Sections)), mem: emu.NewMemory()}
	next := uint64(demoText)
	for i, s := range o.Sections {
		d.addrs[i] = next
		next += (s.Size + emu.PageSize - 1) &^ (emu.PageSize - 1)
	}
	contents, err := o.Relocate(d.addrs, nil)
	if err != nil {
		return nil, err
	}
	for i, s := range o.Sections {
		if s.Size == 0 {
			continue
		}
		perm := emu.PermR
		if s.Flags&obj.FlagWrite != 0 {
			perm |= emu.PermW
		}
		if s.Flags&obj.FlagExec != 0 {
			perm |= emu.PermX
		}
		if err := d.mem.Map(d.addrs[i], s.Size, perm); err != nil {
			return nil, err
		}
		if contents[i] != nil {
			if err := d.mem.Write(d.addrs[i], contents[i]); err != nil {
				return nil, err
			}
		}
	}
	if err := d.mem.Map(demoStack-4*emu.PageSize, 4*emu.PageSize, emu.PermRW); err != nil {
		return nil, err
	}
	return d, nil
}

// runDemo shows the machine layer at work: real x86-64 code at kernel
// addresses, hypercalls, and a text poke of a 5-byte ftrace nop into a call
// that takes effect on the next execution.
func runDemo(w io.Writer, maxInsns uint64) (insns uint64, elapsed time.Duration, err error) {
	d, err := loadDemo()
	if err != nil {
		return 0, 0, err
	}
	site := d.o.FtraceSites[0]
	siteAddr := d.addrs[site.Section] + site.Offset
	siteName := d.o.Symbols[site.Func].Name
	fmt.Fprintf(w, "klpsim: built-in demo (no scenario given)\n")
	fmt.Fprintf(w, "boot: demo.S assembled; .text at %#x, %d ftrace site (%s+0x0 at %#x)\n",
		d.addrs[0], len(d.o.FtraceSites), siteName, siteAddr)

	cpu := emu.NewCPU(d.mem)
	pass := func(title string) error {
		fmt.Fprintf(w, "%s\n", title)
		cpu.RIP = d.sym("demo_main")
		cpu.R[isa.RSP] = demoStack
		start, t0 := cpu.Insns, time.Now()
		for {
			x := cpu.Run(maxInsns - (cpu.Insns - start))
			switch x.Reason {
			case emu.ExitHypercall:
				switch cpu.R[isa.RAX] {
				case 1:
					fmt.Fprintf(w, "  fib(%d) = %d\n", cpu.R[isa.RDI], cpu.R[isa.RSI])
				case 2:
					fmt.Fprintf(w, "  count_calls ran %d times\n", cpu.R[isa.RDI])
				default:
					return fmt.Errorf("unknown hypercall %d at %#x", cpu.R[isa.RAX], cpu.RIP)
				}
				continue
			case emu.ExitHlt:
				elapsed += time.Since(t0)
				insns += cpu.Insns - start
				fmt.Fprintf(w, "  %d instructions\n", cpu.Insns-start)
				return nil
			case emu.ExitBudget:
				return fmt.Errorf("instruction limit %d reached", maxInsns)
			case emu.ExitException:
				return fmt.Errorf("guest exception: %v", x.Exc)
			default:
				return fmt.Errorf("unexpected exit %v at %#x", x.Reason, cpu.RIP)
			}
		}
	}

	if err := pass(fmt.Sprintf("run 1: %s+0x0 is the 5-byte nop % x", siteName, obj.Nop5)); err != nil {
		return insns, elapsed, err
	}
	call, err := obj.CallRel32(siteAddr, d.sym("count_calls"))
	if err != nil {
		return insns, elapsed, err
	}
	if err := d.mem.Write(siteAddr, call[:]); err != nil {
		return insns, elapsed, err
	}
	err = pass(fmt.Sprintf("run 2: %s+0x0 text-poked to % x (call count_calls)", siteName, call))
	return insns, elapsed, err
}

// printStats prints the --stats line shared by run and elf.
func printStats(w io.Writer, insns uint64, elapsed time.Duration) {
	secs := elapsed.Seconds()
	mips := 0.0
	if secs > 0 {
		mips = float64(insns) / secs / 1e6
	}
	fmt.Fprintf(w, "insns=%d seconds=%.3f mips=%.1f\n", insns, secs, mips)
}

package kernel

import (
	"fmt"

	"klpsim/emu"
)

// The kernel heap: kmalloc for the guest objects the host creates
// (seq_files for /proc reads, ...). A first-fit free list over a region
// mapped page by page as it grows; allocations are 16-byte aligned and
// zeroed.

const (
	heapBase = 0xffff888100000000 // in the direct map, as kmalloc memory is
	heapMax  = 64 << 20
)

type kheap struct {
	top   uint64            // end of the used region
	free  map[uint64]uint64 // free blocks: address -> size
	sizes map[uint64]uint64 // live allocations: address -> size
}

// kmalloc returns size zeroed bytes of kernel memory.
func (k *Kernel) kmalloc(size uint64) (uint64, error) {
	h := &k.kheap
	if h.sizes == nil {
		h.top, h.free, h.sizes = heapBase, map[uint64]uint64{}, map[uint64]uint64{}
	}
	size = (max(size, 1) + 15) &^ 15
	var addr uint64
	for a, n := range h.free {
		if n >= size && (addr == 0 || a < addr) { // lowest fit: deterministic
			addr = a
		}
	}
	if addr != 0 {
		n := h.free[addr]
		delete(h.free, addr)
		if n > size {
			h.free[addr+size] = n - size
		}
	} else {
		if h.top+size > heapBase+heapMax {
			return 0, fmt.Errorf("kernel: kmalloc(%d): %w (kernel heap)", size, ErrLimit)
		}
		addr = h.top
		end := addr + size
		for p := (h.top + emu.PageSize - 1) &^ (emu.PageSize - 1); p < end; p += emu.PageSize {
			if err := k.mem.Map(p, emu.PageSize, emu.PermRW); err != nil {
				return 0, err
			}
		}
		h.top = end
	}
	h.sizes[addr] = size
	if err := k.mem.Write(addr, make([]byte, size)); err != nil {
		return 0, err
	}
	return addr, nil
}

// kfree returns memory from kmalloc.
func (k *Kernel) kfree(addr uint64) {
	h := &k.kheap
	size, ok := h.sizes[addr]
	if !ok {
		return
	}
	delete(h.sizes, addr)
	h.free[addr] = size
}

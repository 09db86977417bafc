package kernel

// Kmalloc is kzalloc(size, GFP_KERNEL) for subsystems above the kernel
// (livepatch's shadow variables): size zeroed bytes of kernel heap, 16-byte
// aligned, in the direct map. The error wraps ErrLimit when the heap is
// full, where Linux's kzalloc would return NULL.
func (k *Kernel) Kmalloc(size uint64) (uint64, error) { return k.kmalloc(size) }

// Kfree is kfree: it returns memory from Kmalloc. Freeing 0 or an address
// Kmalloc did not return does nothing.
func (k *Kernel) Kfree(addr uint64) { k.kfree(addr) }

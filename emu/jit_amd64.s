#include "textflag.h"

// func jitEnter(code uintptr, c *CPU) uint64
//
// Translated code (jit_amd64.go) runs on this goroutine's stack below this
// frame, uses no stack of its own but the return address (and one word for
// pushfq), calls nothing, and keeps RBP, RSP and R14.
TEXT ·jitEnter(SB), NOSPLIT, $0-24
	MOVQ code+0(FP), AX
	MOVQ c+8(FP), R15
	CALL AX
	MOVQ AX, ret+16(FP)
	RET

//go:build !noasm

#include "textflag.h"

// tailMask holds eight all-ones lanes then eight zero lanes; the 8 lanes
// starting at tailMask+32-4*r select the first r floats (VMASKMOVPS).
DATA tailMask<>+0(SB)/8, $0xffffffffffffffff
DATA tailMask<>+8(SB)/8, $0xffffffffffffffff
DATA tailMask<>+16(SB)/8, $0xffffffffffffffff
DATA tailMask<>+24(SB)/8, $0xffffffffffffffff
DATA tailMask<>+32(SB)/8, $0
DATA tailMask<>+40(SB)/8, $0
DATA tailMask<>+48(SB)/8, $0
DATA tailMask<>+56(SB)/8, $0
GLOBL tailMask<>(SB), RODATA|NOPTR, $64

// AVX2+FMA kernels: four 8-lane accumulators (32 floats per iteration),
// then 8 floats per iteration, then one masked load for the last 0..7.
// The batch kernels also prefetch the block 1 KiB ahead of the loads (a
// prefetch past the end of the block is harmless: it never faults).

// func l2AVX2(a, b []float32) float32
// Squared L2 distance; len(b) >= len(a).
TEXT ·l2AVX2(SB), NOSPLIT, $0-52
	MOVQ a_base+0(FP), SI
	MOVQ b_base+24(FP), DI
	MOVQ a_len+8(FP), CX
	MOVQ CX, R11
	ANDQ $7, R11
	SHLQ $2, R11
	LEAQ tailMask<>+32(SB), AX
	SUBQ R11, AX
	VMOVDQU (AX), Y8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SUBQ $32, CX
	JB body_8
body_32:
	VMOVUPS 0(SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VSUBPS 0(DI), Y4, Y4
	VSUBPS 32(DI), Y5, Y5
	VSUBPS 64(DI), Y6, Y6
	VSUBPS 96(DI), Y7, Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JAE body_32
body_8:
	ADDQ $24, CX
	JL body_tail
body_8loop:
	VMOVUPS (SI), Y4
	VSUBPS (DI), Y4, Y4
	VFMADD231PS Y4, Y4, Y1
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JAE body_8loop
body_tail:
	TESTQ R11, R11
	JZ body_reduce
	VMASKMOVPS (SI), Y8, Y4
	VMASKMOVPS (DI), Y8, Y5
	VSUBPS Y5, Y4, Y4
	VFMADD231PS Y4, Y4, Y2
	ADDQ R11, SI
	ADDQ R11, DI
body_reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dotAVX2(a, b []float32) float32
// Inner product; len(b) >= len(a).
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ a_base+0(FP), SI
	MOVQ b_base+24(FP), DI
	MOVQ a_len+8(FP), CX
	MOVQ CX, R11
	ANDQ $7, R11
	SHLQ $2, R11
	LEAQ tailMask<>+32(SB), AX
	SUBQ R11, AX
	VMOVDQU (AX), Y8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SUBQ $32, CX
	JB body_8
body_32:
	VMOVUPS 0(SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS 0(DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JAE body_32
body_8:
	ADDQ $24, CX
	JL body_tail
body_8loop:
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y1
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JAE body_8loop
body_tail:
	TESTQ R11, R11
	JZ body_reduce
	VMASKMOVPS (SI), Y8, Y4
	VMASKMOVPS (DI), Y8, Y5
	VFMADD231PS Y5, Y4, Y2
	ADDQ R11, SI
	ADDQ R11, DI
body_reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func l2BatchAVX2(q, block []float32, dim int, out []float32)
// out[i] = squared L2 of q[:dim] and block[i*dim:]; len(out) >= 1.
TEXT ·l2BatchAVX2(SB), NOSPLIT, $0-80
	MOVQ q_base+0(FP), R8
	MOVQ block_base+24(FP), DI
	MOVQ dim+48(FP), DX
	MOVQ out_base+56(FP), R9
	MOVQ out_len+64(FP), R10
	MOVQ DX, CX
	MOVQ CX, R11
	ANDQ $7, R11
	SHLQ $2, R11
	LEAQ tailMask<>+32(SB), AX
	SUBQ R11, AX
	VMOVDQU (AX), Y8
row:
	MOVQ R8, SI
	MOVQ DX, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SUBQ $32, CX
	JB body_8
body_32:
	PREFETCHT0 1024(DI)
	PREFETCHT0 1088(DI)
	VMOVUPS 0(SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VSUBPS 0(DI), Y4, Y4
	VSUBPS 32(DI), Y5, Y5
	VSUBPS 64(DI), Y6, Y6
	VSUBPS 96(DI), Y7, Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JAE body_32
body_8:
	ADDQ $24, CX
	JL body_tail
body_8loop:
	VMOVUPS (SI), Y4
	VSUBPS (DI), Y4, Y4
	VFMADD231PS Y4, Y4, Y1
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JAE body_8loop
body_tail:
	TESTQ R11, R11
	JZ body_reduce
	VMASKMOVPS (SI), Y8, Y4
	VMASKMOVPS (DI), Y8, Y5
	VSUBPS Y5, Y4, Y4
	VFMADD231PS Y4, Y4, Y2
	ADDQ R11, SI
	ADDQ R11, DI
body_reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, (R9)
	ADDQ $4, R9
	DECQ R10
	JNZ row
	VZEROUPPER
	RET

// func dotBatchAVX2(q, block []float32, dim int, out []float32)
// out[i] = inner product of q[:dim] and block[i*dim:]; len(out) >= 1.
TEXT ·dotBatchAVX2(SB), NOSPLIT, $0-80
	MOVQ q_base+0(FP), R8
	MOVQ block_base+24(FP), DI
	MOVQ dim+48(FP), DX
	MOVQ out_base+56(FP), R9
	MOVQ out_len+64(FP), R10
	MOVQ DX, CX
	MOVQ CX, R11
	ANDQ $7, R11
	SHLQ $2, R11
	LEAQ tailMask<>+32(SB), AX
	SUBQ R11, AX
	VMOVDQU (AX), Y8
row:
	MOVQ R8, SI
	MOVQ DX, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SUBQ $32, CX
	JB body_8
body_32:
	PREFETCHT0 1024(DI)
	PREFETCHT0 1088(DI)
	VMOVUPS 0(SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS 0(DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JAE body_32
body_8:
	ADDQ $24, CX
	JL body_tail
body_8loop:
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y1
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JAE body_8loop
body_tail:
	TESTQ R11, R11
	JZ body_reduce
	VMASKMOVPS (SI), Y8, Y4
	VMASKMOVPS (DI), Y8, Y5
	VFMADD231PS Y5, Y4, Y2
	ADDQ R11, SI
	ADDQ R11, DI
body_reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, (R9)
	ADDQ $4, R9
	DECQ R10
	JNZ row
	VZEROUPPER
	RET

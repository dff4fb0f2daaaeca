// z3fold-harden: the bare fiber switch (x86-64 System V). Saves the
// callee-saved registers on the current stack, stores the stack pointer in
// *from_sp, loads to_sp and restores the other fiber's registers.
//   void z3fh_fiber_switch(void** from_sp, void* to_sp);
    .text
    .globl z3fh_fiber_switch
    .type z3fh_fiber_switch, @function
z3fh_fiber_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size z3fh_fiber_switch, .-z3fh_fiber_switch
    .section .note.GNU-stack,"",@progbits

/*
 * The KVM probe's guest firmware (see kvm.rs). QEMU maps a 64 KiB `-bios` image at the top
 * of the 4 GiB space and aliases it at 0xF0000; the CPU starts in real mode at file offset
 * 0xFFF0. The firmware walks the steps every guest kernel walks (real mode, protected mode,
 * 64-bit long mode with paging, an exception round trip) and then spins through a fixed
 * amount of work, writing a progress mark to the debug console (port 0xE9) after each step:
 *
 *   'R' real mode   'P' protected mode   'L' long mode   'E' exception handled
 *   '.' 1/256 of the work done
 *
 * and exits QEMU through isa-debug-exit (port 0xF4): status (0x21 << 1) | 1 = 67.
 *
 * Rebuild (binutils) and paste the listing into kvm.rs:
 *   as --64 -o fw.o probe_firmware.S && ld -m elf_x86_64 -e main -Ttext=0 --oformat binary -o fw.bin fw.o
 * fw.bin is the whole 64 KiB image: `main` at offset 0, zeros, the reset jump at 0xFFF0.
 */
        .code16
        .globl  main
main:                                   /* CS base 0xF0000, IP = file offset */
        cli
        cld
        mov     $'R', %al
        out     %al, $0xe9
        mov     $0xF000, %ax
        mov     %ax, %ds
        lgdtl   gdt_desc                /* DS:offset = linear 0xF0000 + offset */
        mov     %cr0, %eax
        or      $1, %al                 /* PE */
        mov     %eax, %cr0
        ljmpl   $0x08, $(0xF0000 + pm32)

        .code32
pm32:
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     $'P', %al
        out     %al, $0xe9
        /* page tables in RAM: PML4 0x1000, PDPT 0x2000, PD 0x3000; the first 2 MiB
           identity-mapped by one large page, the next 2 MiB left for the #PF handler */
        mov     $0x1000, %edi
        xor     %eax, %eax
        mov     $3072, %ecx
        rep stosl
        movl    $0x2003, 0x1000
        movl    $0x3003, 0x2000
        movl    $0x83, 0x3000
        mov     $0x1000, %eax
        mov     %eax, %cr3
        mov     %cr4, %eax
        or      $0x20, %eax             /* PAE */
        mov     %eax, %cr4
        mov     $0xC0000080, %ecx       /* EFER */
        rdmsr
        or      $0x100, %eax            /* LME */
        wrmsr
        mov     %cr0, %eax
        or      $0x80000000, %eax       /* PG */
        mov     %eax, %cr0
        ljmp    $0x18, $(0xF0000 + lm64)

        .code64
lm64:
        mov     $0x10, %ax
        mov     %ax, %ss
        mov     $0x8000, %esp
        mov     $'L', %al
        out     %al, $0xe9
        /* IDT at 0x4000 with one gate: #PF (vector 14) -> pf_handler */
        mov     $0x4000, %edi
        xor     %eax, %eax
        mov     $512, %ecx
        rep stosq
        movw    $pf_handler, 0x4000 + 14 * 16            /* offset 15..0 (0xF0000 + pf_handler) */
        movw    $0x18, 0x4000 + 14 * 16 + 2
        movw    $0x8E00, 0x4000 + 14 * 16 + 4
        movw    $0x000F, 0x4000 + 14 * 16 + 6           /* offset 31..16 */
        lidt    0xF0000 + idt_desc
        /* write to the unmapped 2 MiB page: the handler maps it, the write is retried */
        movl    $0x12345678, 0x200000
        cmpl    $0x12345678, 0x200000
        jne     halt
        mov     $'E', %al
        out     %al, $0xe9
        /* the work: 256 rounds of 65536 iterations (a few ms under a working KVM) */
        mov     $256, %ebx
round:  mov     $0x10000, %ecx
spin:   add     %rcx, %rdx
        dec     %ecx
        jnz     spin
        mov     $'.', %al
        out     %al, $0xe9
        dec     %ebx
        jnz     round
        mov     $0x21, %al
        out     %al, $0xf4              /* isa-debug-exit: QEMU exits with 67 */
halt:   hlt
        jmp     halt

pf_handler:
        movl    $0x200083, 0x3008       /* PD[1]: 2 MiB at 2 MiB */
        mov     %cr3, %rax
        mov     %rax, %cr3              /* flush the TLB */
        add     $8, %rsp                /* drop the error code */
        iretq

        .p2align 3, 0
gdt:
        .quad   0
        .quad   0x00CF9B000000FFFF      /* 0x08: 32-bit code (accessed bit preset: the GDT is in ROM) */
        .quad   0x00CF93000000FFFF      /* 0x10: data */
        .quad   0x00AF9B000000FFFF      /* 0x18: 64-bit code */
gdt_desc:
        .word   gdt_desc - gdt - 1
        .long   0xF0000 + gdt
idt_desc:
        .word   16 * 256 - 1
        .quad   0x4000

        .code16
        .org    0xFFF0
reset:                                  /* the reset vector */
        ljmp    $0xF000, $main
        .org    0x10000

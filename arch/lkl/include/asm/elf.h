/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_ELF_H
#define _ASM_LKL_ELF_H

/* lkl runs no ELF programs; these only satisfy generic declarations. */
#define ELF_CLASS		ELFCLASS64
#define ELF_DATA		ELFDATA2LSB
#define ELF_ARCH		EM_NONE
#define ELF_EXEC_PAGESIZE	4096

typedef unsigned long elf_greg_t;
#define ELF_NGREG		1
typedef elf_greg_t elf_gregset_t[ELF_NGREG];
typedef struct { } elf_fpregset_t;

#define elf_check_arch(x)	0

#endif

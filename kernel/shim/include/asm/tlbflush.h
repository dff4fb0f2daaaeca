/* z3fold-harden kernel shim: <asm/tlbflush.h> is one part of kshim.h. */
#pragma once
#include "kshim.h"

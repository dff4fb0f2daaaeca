/* z3fold-harden kernel shim: <linux/wait.h> is one part of kshim.h. */
#pragma once
#include "kshim.h"

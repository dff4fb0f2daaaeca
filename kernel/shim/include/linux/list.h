/* z3fold-harden kernel shim: <linux/list.h> is one part of kshim.h. */
#pragma once
#include "kshim.h"

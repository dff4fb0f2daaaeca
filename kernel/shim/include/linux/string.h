/* z3fold-harden kernel shim: <linux/string.h> is one part of kshim.h. */
#pragma once
#include "kshim.h"

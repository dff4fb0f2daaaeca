/* z3fold-harden kernel shim: <linux/local_lock.h> is one part of kshim.h. */
#pragma once
#include "kshim.h"

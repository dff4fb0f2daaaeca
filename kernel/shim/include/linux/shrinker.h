/* z3fold-harden kernel shim: <linux/shrinker.h> is one part of kshim.h. */
#pragma once
#include "kshim.h"

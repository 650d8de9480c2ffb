// Every differentiable function of the engine, for users and for the layers above.
#pragma once
#include "autograd/conv.h"
#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/linalg.h"
#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "autograd/shape_ops.h"
#include "core/rng.h"

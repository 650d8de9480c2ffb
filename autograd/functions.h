// Every differentiable function of the engine, for users and for the layers above.
#pragma once
#include "resa/autograd/conv.h"
#include "resa/autograd/elementwise.h"
#include "resa/autograd/engine.h"
#include "resa/autograd/linalg.h"
#include "resa/autograd/loss.h"
#include "resa/autograd/reduce.h"
#include "resa/autograd/shape_ops.h"
#include "resa/core/rng.h"

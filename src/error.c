/*
 * error: the GError domain shared by all softpr modules.
 */
#include "error.h"

G_DEFINE_QUARK(softpr - error - quark, softpr_error)

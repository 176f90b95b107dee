/* The one header of the COpikAttachments module: the installed C header, found on the include
 * path (pkg-config --cflags opik_attachments). */
#ifndef OPIK_ATTACHMENTS_SWIFT_SHIM_H
#define OPIK_ATTACHMENTS_SWIFT_SHIM_H
#include <opik_attachments.h>
#endif

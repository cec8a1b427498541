/* LD_PRELOAD shim for interop runs: makes Debian 12's libxml2 2.9.14 call SIPE's SAX1 callbacks.
 * SIPE flags its handler XML_SAX2_MAGIC but fills in only startElement/endElement; this libxml2
 * then calls neither, so every XML body SIPE reads parses to nothing (xccos/PROTOCOL.md §9). */
#include <dlfcn.h>
#include <libxml/parser.h>
#include <stddef.h>

typedef int (*sax_user_parse_memory_fn)(xmlSAXHandlerPtr, void *, const char *, int);

int xmlSAXUserParseMemory(xmlSAXHandlerPtr sax, void *user_data, const char *buffer, int size)
{
    static sax_user_parse_memory_fn real_parse;
    if (real_parse == NULL)
        real_parse = (sax_user_parse_memory_fn)dlsym(RTLD_NEXT, "xmlSAXUserParseMemory");
    if (real_parse == NULL)
        return -1; /* no libxml2 behind us: behave like a parse failure, never crash the client */

    if (sax == NULL || sax->initialized != XML_SAX2_MAGIC || sax->startElementNs != NULL)
        return real_parse(sax, user_data, buffer, size);

    /* A SAX2-flagged handler without namespace callbacks is a SAX1 handler in disguise: any
     * value other than XML_SAX2_MAGIC makes libxml2 treat it as SAX1 and call startElement. */
    xmlSAXHandler sax1_handler = *sax;
    sax1_handler.initialized = 1;
    return real_parse(&sax1_handler, user_data, buffer, size);
}

/* xml_render.h — conversations to the Lync XmlAdapter document (Conversations / Conversation /
 * Messages / Message), the format compliance/xsd/pchat-compliance.xsd describes. */
#ifndef PCHAT_XML_RENDER_H
#define PCHAT_XML_RENDER_H

#include "pchat_adapter.h"
#include "pchat_adapter_util.h"

struct xml_render_options {
    int event_ids;          /* add eventId="<uuid>" to each message (not in the 2013 format) */
    int add_room_details;   /* Channel gets category, description, privacy, type */
    int add_user_details;   /* Sender gets email */
};

/* Append one complete document holding `n` conversations to `out`. */
void xml_render_document(struct pchat_buf *out, const struct pchat_adapter_conversation *convs,
                         size_t n, const struct xml_render_options *opt);

#endif

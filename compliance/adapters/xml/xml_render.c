/* xml_render.c — writes conversations in the Lync XmlAdapter layout: each timestamp in its
 * three forms, FirstMessage repeating the first Message, Start/EndTimeUTC last. */
#include "xml_render.h"

#include <inttypes.h>

static const char *privacy_name(int privacy)
{
    switch (privacy) {
    case 0: return "open";
    case 1: return "closed";
    case 2: return "secret";
    default: return NULL;
    }
}

static const char *room_type_name(int type)
{
    switch (type) {
    case 0: return "normal";
    case 1: return "auditorium";
    default: return NULL;
    }
}

static void attr(struct pchat_buf *out, const char *name, const char *value)
{
    pchat_buf_printf(out, " %s=\"", name);
    pchat_buf_xml_attr(out, value);
    pchat_buf_puts(out, "\"");
}

/* <Tag since1970="ms" string="ISO" long="ticks"/> */
static void time_element(struct pchat_buf *out, const char *indent, const char *tag, int64_t us)
{
    char iso[PCHAT_TIME_ISO_LEN];
    pchat_time_iso(us, iso);
    pchat_buf_printf(out, "%s<%s since1970=\"%" PRId64 "\" string=\"%s\" long=\"%" PRId64 "\"/>\n",
                     indent, tag, pchat_time_epoch_ms(us), iso, pchat_time_ticks(us));
}

static void sender_element(struct pchat_buf *out, const char *indent,
                           const struct pchat_adapter_user *u, const struct xml_render_options *opt)
{
    char address[512];
    pchat_user_address(u->uri, address, sizeof address);
    pchat_buf_printf(out, "%s<Sender", indent);
    /* The 2013 service wrote the address when it had no display name (its FILEDOWNLOAD sample). */
    attr(out, "UserName", u->display_name && u->display_name[0] ? u->display_name : address);
    pchat_buf_printf(out, " id=\"%" PRId64 "\"", u->id);
    if (opt->add_user_details)
        attr(out, "email", address);
    pchat_buf_printf(out, " internal=\"%s\"", u->internal ? "true" : "false");
    attr(out, "uri", u->uri);
    pchat_buf_puts(out, "/>\n");
}

/* Message and FirstMessage share one shape. */
static void message_element(struct pchat_buf *out, const char *indent, const char *tag,
                            const struct pchat_adapter_event *ev,
                            const struct xml_render_options *opt)
{
    char inner[32];
    snprintf(inner, sizeof inner, "%s  ", indent);
    pchat_buf_printf(out, "%s<%s", indent, tag);
    attr(out, "type", ev->type);
    attr(out, "content", ev->content ? ev->content : "");
    pchat_buf_printf(out, " id=\"%" PRId64 "\"", ev->message_id);
    if (opt->event_ids)
        attr(out, "eventId", ev->event_id);
    pchat_buf_puts(out, ">\n");
    sender_element(out, inner, &ev->user, opt);
    time_element(out, inner, "DateTimeUTC", ev->time_us);
    pchat_buf_printf(out, "%s</%s>\n", indent, tag);
}

static void channel_element(struct pchat_buf *out, const struct pchat_adapter_room *room,
                            const struct xml_render_options *opt)
{
    pchat_buf_puts(out, "    <Channel");
    attr(out, "uri", room->uri);
    attr(out, "name", room->name);
    if (opt->add_room_details) {
        if (room->category)
            attr(out, "category", room->category);
        if (room->description)
            attr(out, "description", room->description);
        const char *privacy = privacy_name(room->privacy), *type = room_type_name(room->type);
        if (privacy)
            attr(out, "privacy", privacy);
        if (type)
            attr(out, "type", type);
    }
    pchat_buf_puts(out, "/>\n");
}

static void conversation_element(struct pchat_buf *out, const struct pchat_adapter_conversation *c,
                                 const struct xml_render_options *opt)
{
    pchat_buf_puts(out, "  <Conversation>\n");
    channel_element(out, &c->room, opt);
    message_element(out, "    ", "FirstMessage", &c->events[0], opt);
    pchat_buf_puts(out, "    <Messages>\n");
    for (size_t i = 0; i < c->n_events; i++)
        message_element(out, "      ", "Message", &c->events[i], opt);
    pchat_buf_puts(out, "    </Messages>\n");
    time_element(out, "    ", "StartTimeUTC", c->start_us);
    time_element(out, "    ", "EndTimeUTC", c->end_us);
    pchat_buf_puts(out, "  </Conversation>\n");
}

void xml_render_document(struct pchat_buf *out, const struct pchat_adapter_conversation *convs,
                         size_t n, const struct xml_render_options *opt)
{
    pchat_buf_puts(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                        "<Conversations xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
                        " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">\n");
    for (size_t i = 0; i < n; i++)
        if (convs[i].n_events > 0)
            conversation_element(out, &convs[i], opt);
    pchat_buf_puts(out, "</Conversations>\n");
}

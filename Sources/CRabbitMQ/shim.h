#ifndef PARCELFLOW_CRABBITMQ_SHIM_H
#define PARCELFLOW_CRABBITMQ_SHIM_H

// rabbitmq-c 0.11 (Debian librabbitmq-dev) keeps its headers at the top of the include path.
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
// The connection thread waits on the socket and a wake-up eventfd together.
#include <poll.h>
#include <sys/eventfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

// Holds back partial TCP segments while set (Linux TCP_CORK): a burst of frames written between
// cork and uncork leaves as full segments instead of one packet per call. Clearing it sends at once.
static inline void CRabbitMQ_set_cork(int fd, int on) {
#ifdef TCP_CORK
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
#endif
}

// amqp_login_with_properties is variadic, which Swift cannot call: fix the SASL method to PLAIN.
static inline amqp_rpc_reply_t CRabbitMQ_login_plain(amqp_connection_state_t state, const char *vhost,
                                                     int channel_max, int frame_max, int heartbeat,
                                                     const amqp_table_t *properties,
                                                     const char *user, const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

#endif

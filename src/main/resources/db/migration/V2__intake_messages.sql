-- Ids of broker messages already accepted: a message redelivered after its enqueue committed (the
-- broker went away before the acknowledgement) is recognised and acknowledged without a second intake.
CREATE TABLE intake_message (
    source       VARCHAR(50)  NOT NULL,
    message_id   VARCHAR(200) NOT NULL,
    received_at  TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (source, message_id)
);

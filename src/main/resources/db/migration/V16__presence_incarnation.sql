-- Each process's entries apart from those of another process started with the same ordersync.instance-id: the
-- incarnation is random, new at every start. Before, two processes with one id deleted each other's entries at
-- every refresh, and neither saw the other's, so an instance without a provider's file dropped the rows of a
-- provider the other ran. Entries of earlier versions, which do not write it, get ''.
-- The table is built anew (its primary key changes) and takes the place of the old one in one step; its entries
-- are refreshed every few seconds anyway.
CREATE TABLE provider_presence_v16 (
    instance_id  VARCHAR(200) NOT NULL,
    incarnation  VARCHAR(64) DEFAULT '' NOT NULL,
    provider     VARCHAR(100) NOT NULL,
    seen_until   TIMESTAMP WITH TIME ZONE NOT NULL,
    subscription ${document},
    PRIMARY KEY (instance_id, incarnation, provider)
);
INSERT INTO provider_presence_v16 (instance_id, incarnation, provider, seen_until, subscription)
    SELECT instance_id, '', provider, seen_until, subscription FROM provider_presence;
DROP TABLE provider_presence;
ALTER TABLE provider_presence_v16 RENAME TO provider_presence;

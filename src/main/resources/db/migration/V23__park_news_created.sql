-- The retention purge deletes the parks no alert named within a day (park_news.created_at), in batches: without this
-- index each batch read the whole table.
CREATE INDEX park_news_created ON park_news (created_at);

-- What the blob store needs to continue or finish an upload beyond its data (an object store's
-- multipart upload id and part list, say), opaque here: the store returns it with every chunk,
-- the session row keeps it, and whichever replica serves the next chunk or the final PUT passes
-- it back. NULL until the first chunk, and always for the filesystem driver.
ALTER TABLE uploads ADD COLUMN store_state {{BYTES}};

-- Tags: oVirt's free labels on VMs and hosts, in one tree under the built-in `root` tag (its
-- id is all zeros, as in oVirt). A tag's name is unique; removing a tag removes its subtags
-- and its assignments.
CREATE TABLE tags (
    id          TEXT NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL,
    parent_id   TEXT,
    CONSTRAINT tags_id_key PRIMARY KEY (id),
    CONSTRAINT tags_name_key UNIQUE (name),
    CONSTRAINT tags_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES tags (id) ON DELETE CASCADE
);
INSERT INTO tags (id, name, description, parent_id)
    VALUES ('00000000-0000-0000-0000-000000000000', 'root', 'root', NULL);

CREATE TABLE vm_tags (
    vm_id   TEXT NOT NULL,
    tag_id  TEXT NOT NULL,
    CONSTRAINT vm_tags_vm_id_tag_id_key PRIMARY KEY (vm_id, tag_id),
    CONSTRAINT vm_tags_vm_id_fkey FOREIGN KEY (vm_id) REFERENCES vms (id) ON DELETE CASCADE,
    CONSTRAINT vm_tags_tag_id_fkey FOREIGN KEY (tag_id) REFERENCES tags (id) ON DELETE CASCADE
);
CREATE INDEX vm_tags_tag_id ON vm_tags (tag_id);

CREATE TABLE host_tags (
    host_id TEXT NOT NULL,
    tag_id  TEXT NOT NULL,
    CONSTRAINT host_tags_host_id_tag_id_key PRIMARY KEY (host_id, tag_id),
    CONSTRAINT host_tags_host_id_fkey FOREIGN KEY (host_id) REFERENCES hosts (id) ON DELETE CASCADE,
    CONSTRAINT host_tags_tag_id_fkey FOREIGN KEY (tag_id) REFERENCES tags (id) ON DELETE CASCADE
);
CREATE INDEX host_tags_tag_id ON host_tags (tag_id);

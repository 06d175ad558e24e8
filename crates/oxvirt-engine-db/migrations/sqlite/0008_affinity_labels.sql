-- Affinity labels: named marks on VMs and hosts that placement will honour (a VM runs only on
-- a host carrying its labels) once scheduling policies exist; for now stored and listed. A
-- label's name is unique; removing a label removes its assignments.
CREATE TABLE affinity_labels (
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    CONSTRAINT affinity_labels_id_key PRIMARY KEY (id),
    CONSTRAINT affinity_labels_name_key UNIQUE (name)
);

CREATE TABLE vm_affinity_labels (
    vm_id    TEXT NOT NULL,
    label_id TEXT NOT NULL,
    CONSTRAINT vm_affinity_labels_vm_id_label_id_key PRIMARY KEY (vm_id, label_id),
    CONSTRAINT vm_affinity_labels_vm_id_fkey FOREIGN KEY (vm_id) REFERENCES vms (id) ON DELETE CASCADE,
    CONSTRAINT vm_affinity_labels_label_id_fkey
        FOREIGN KEY (label_id) REFERENCES affinity_labels (id) ON DELETE CASCADE
);
CREATE INDEX vm_affinity_labels_label_id ON vm_affinity_labels (label_id);

CREATE TABLE host_affinity_labels (
    host_id  TEXT NOT NULL,
    label_id TEXT NOT NULL,
    CONSTRAINT host_affinity_labels_host_id_label_id_key PRIMARY KEY (host_id, label_id),
    CONSTRAINT host_affinity_labels_host_id_fkey FOREIGN KEY (host_id) REFERENCES hosts (id) ON DELETE CASCADE,
    CONSTRAINT host_affinity_labels_label_id_fkey
        FOREIGN KEY (label_id) REFERENCES affinity_labels (id) ON DELETE CASCADE
);
CREATE INDEX host_affinity_labels_label_id ON host_affinity_labels (label_id);

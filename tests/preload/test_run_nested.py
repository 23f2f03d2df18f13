"""A `mida run` inside another (a job script under `mida run` whose steps
are `mida run`s of their own): the inner run's command is the inner
run's root task, as it would be unobserved -- its pid the command's, its
processes its children -- and a child of the process that ran the inner
`mida run`, which is a task of the outer run. Before, the outer library
replaced the inner run's handoff with a child task of its own: the inner
root task kept the inner `mida run`'s pid and ran nothing, and the
command was a second task beside it (src/preload/exec.c,
spawn_handed_off)."""

from preload_support import Run, mida_bin


def test_the_inner_command_is_the_inner_runs_root_task(tmp_path):
    r = Run(tmp_path)
    (tmp_path / "in").write_text("b\na\n")
    p = r.run(mida_bin(), "run", "--no-mlflow", "--", "sh", "-c",
              "echo $$ > inner.pid; sort in > out")
    assert p.returncode == 0, p.stderr
    outer_root = r.root()
    inner_pid = int((tmp_path / "inner.pid").read_text())
    (outer_wf,) = r.rows("SELECT workflow_id FROM task WHERE id = ?",
                         outer_root)[0]
    (inner_wf,) = r.rows("SELECT id FROM workflow WHERE name = 'sh'")[0]
    assert inner_wf != outer_wf
    # The outer root is the process that ran the inner mida run.
    assert r.rows("SELECT activity FROM task WHERE id = ?",
                  outer_root) == [("mida",)]
    shells = r.rows("SELECT id, pid, parent_id, workflow_id, status"
                    " FROM task WHERE activity = 'sh'")
    assert len(shells) == 1, shells
    sh_id, sh_pid, sh_parent, sh_wf, sh_status = shells[0]
    assert (sh_pid, sh_parent, sh_wf, sh_status) == (
        inner_pid, outer_root, inner_wf, "FINISHED"), shells
    # The inner run's processes are the inner root's children, in its
    # workflow, with their files.
    sorts = r.rows("SELECT parent_id, workflow_id FROM task"
                   " WHERE activity = 'sort'")
    assert sorts == [(sh_id, inner_wf)], sorts
    assert {("sort", "used", "in"), ("sort", "generated", "out"),
            ("sh", "generated", "inner.pid")} <= r.links(under=tmp_path)
    assert r.rows("SELECT count(*) FROM task WHERE status IS NULL"
                  " OR status IN ('RUNNING', 'SUBMITTED', 'LOST')") == [(0,)]

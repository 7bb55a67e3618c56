"""The agency loop with the shipped domains (domains/), over HTTP, offline (mock LLM): an offer through
marketing, sales, fulfillment and feedback to its refined version 2; and 1,000 leads through
Marketing -> Sales at once, each qualified lead handed off exactly once."""

import json
import os
import sqlite3
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO_ROOT, EngineTestCase  # noqa: E402


def sample(domain, name):
    with open(os.path.join(REPO_ROOT, "domains", domain, "samples", name + ".json")) as f:
        return json.load(f)


class AgencyLoopTest(EngineTestCase):
    def start(self, eng, start, input):
        st, _, b = eng.request("POST", "/api/v1/workflows", body={"start": start, "input": input})
        self.assertEqual(st, 201, b)
        return b["id"]

    def wait_workflow(self, eng, wid, timeout=60):
        deadline = time.time() + timeout
        while True:
            st, _, w = eng.request("GET", "/api/v1/workflows/%d" % wid)
            self.assertEqual(st, 200, w)
            if w["status"] != "running":
                return w
            self.assertLess(time.time(), deadline, "workflow %d still running: %s" % (wid, json.dumps(w)[:3000]))
            time.sleep(0.1)

    def task_of(self, wf, type):
        found = [t for t in wf["tasks"] if t["type"] == type]
        self.assertEqual(len(found), 1, "%s in workflow %d: %s" % (type, wf["id"], [t["type"] for t in wf["tasks"]]))
        return found[0]

    def test_an_offer_goes_round_the_loop_to_its_version_2(self):
        eng = self.engine()
        # Offer -> Marketing
        offer_wf = self.wait_workflow(eng, self.start(eng, "offer", sample("offer", "package_service")))
        self.assertEqual(offer_wf["status"], "completed", offer_wf)
        v1 = self.task_of(offer_wf, "offer.package_service")["result"]
        slug = v1.get("slug") or v1["offer"]["slug"]
        self.task_of(offer_wf, "marketing.plan_campaign")
        # a lead: Marketing -> Sales -> Fulfillment -> Feedback (the survey goes out)
        lead = sample("marketing", "score_lead")
        lead["offer"] = {"slug": slug, "version": 1, "name": "SEO Growth Sprint"}
        lead_wf = self.wait_workflow(eng, self.start(eng, "marketing.score_lead", lead))
        self.assertEqual(lead_wf["status"], "completed", lead_wf)
        types = [t["type"] for t in lead_wf["tasks"]]
        for t in ("sales.qualify_lead", "sales.write_proposal", "sales.manage_deal", "fulfillment.plan_project",
                  "fulfillment.review_quality", "feedback.collect_feedback"):
            self.assertIn(t, types)
        self.assertTrue(all(t["status"] == "succeeded" for t in lead_wf["tasks"]), lead_wf["tasks"])
        hops = [(h["from_domain"], h["to_domain"]) for h in lead_wf["handoffs"] if h["status"] == "accepted"]
        for hop in (("marketing", "sales"), ("sales", "fulfillment"), ("fulfillment", "feedback")):
            self.assertIn(hop, hops)
        # the client answers the survey: Feedback -> Offer
        survey = self.task_of(lead_wf, "feedback.collect_feedback")
        answered = dict(survey["input"])
        answered["responses"] = sample("feedback", "collect_feedback")["responses"]
        fb_wf = self.wait_workflow(eng, self.start(eng, "feedback", answered))
        self.assertEqual(fb_wf["status"], "completed", fb_wf)
        v2 = self.task_of(fb_wf, "offer.refine_offer")["result"]
        self.assertEqual(v2["version"], 2, v2)
        self.assertEqual(v2["slug"], slug)
        self.assertEqual(v2["refined_from"]["version"], 1)
        self.assertGreater(len(v2["refined_from"]["insights"]), 0, v2["refined_from"])
        to_offer = [h for h in fb_wf["handoffs"] if h["to_type"] == "offer.refine_offer"]
        self.assertEqual([h["status"] for h in to_offer], ["accepted"])
        # the offer's versions can be listed: the offer domain's memory, over HTTP, one page at a time
        prefix = "offer:%s:v" % slug
        st, _, page = eng.request("GET", "/api/v1/memory?domain=offer&prefix=%s&limit=1" % prefix)
        self.assertEqual(st, 200, page)
        self.assertEqual([i["key"] for i in page["items"]], [prefix + "1"])
        self.assertEqual(page["items"][0]["value"]["version"], 1)
        st, _, page2 = eng.request("GET", "/api/v1/memory?domain=offer&prefix=%s&limit=1&cursor=%s"
                                   % (prefix, page["next_cursor"]))
        self.assertEqual(st, 200, page2)
        self.assertEqual([i["key"] for i in page2["items"]], [prefix + "2"])
        self.assertEqual(page2["items"][0]["value"]["refined_from"]["version"], 1)
        self.assertIsNone(page2["next_cursor"])
        st, _, latest = eng.request("GET", "/api/v1/memory?domain=offer&prefix=offer:%s:latest" % slug)
        self.assertEqual([i["value"] for i in latest["items"]], [2])
        for bad in ("/api/v1/memory", "/api/v1/memory?domain=offer&cursor=zzz", "/api/v1/memory?domain=offer&limit=0"):
            st, _, b = eng.request("GET", bad)
            self.assertEqual(st, 400, (bad, b))

    def test_1000_leads_through_marketing_to_sales_each_handed_off_once(self):
        eng = self.engine(start=False, threads=2)
        # stop the chain at sales: this test is about the Marketing -> Sales handoff under load
        hdir = os.path.join(eng.domains_dir, "sales", "handoffs")
        for f in os.listdir(hdir):
            os.remove(os.path.join(hdir, f))
        eng.start()
        base = sample("marketing", "score_lead")
        leads = []
        for i in range(1000):
            lead = json.loads(json.dumps(base))
            lead["email"] = "lead%d@company%d.com" % (i, i)
            lead["company"] = "Company %d" % i
            hot = i % 3 != 0
            lead["engagement"] = {"email_opens": 5 if hot else 0, "email_clicks": 2 if hot else 0,
                                  "page_views": 9 if hot else 1, "pricing_page_views": 3 if hot else 0,
                                  "demo_requested": hot, "last_activity_days": 1 if hot else 60}
            leads.append(lead)
        with ThreadPoolExecutor(max_workers=8) as ex:
            ids = list(ex.map(lambda l: self.start(eng, "marketing.score_lead", l), leads))
        self.assertEqual(len(set(ids)), 1000)
        deadline = time.time() + 180
        while True:
            st, _, b = eng.request("GET", "/api/v1/workflows?status=running&limit=1")
            self.assertEqual(st, 200, b)
            if not b["items"]:
                break
            self.assertLess(time.time(), deadline, "workflows still running")
            time.sleep(0.25)
        with sqlite3.connect(eng.db_path, timeout=10) as db:
            scored = db.execute("SELECT id, workflow_id, state, result FROM tasks "
                                "WHERE type = 'marketing.score_lead'").fetchall()
            sales = {}
            for (wf,) in db.execute("SELECT workflow_id FROM tasks WHERE type = 'sales.qualify_lead'"):
                sales[wf] = sales.get(wf, 0) + 1
            handoffs = {}
            for src, status in db.execute("SELECT source_task_id, status FROM handoffs WHERE name = 'to_sales'"):
                handoffs.setdefault(src, []).append(status)
        self.assertEqual(len(scored), 1000)
        qualified = 0
        for tid, wf, state, result in scored:
            self.assertEqual(state, "succeeded", (tid, result))
            r = json.loads(result)
            if r["qualified"]:
                qualified += 1
                self.assertEqual(sales.get(wf), 1, "lead task %d (workflow %s): sales tasks %s" % (tid, wf, sales.get(wf)))
                self.assertEqual(handoffs.get(tid), ["accepted"])
            else:
                self.assertNotIn(wf, sales)
                self.assertNotIn(tid, handoffs)
        self.assertEqual(sum(sales.values()), qualified)
        self.assertGreater(qualified, 500)   # two thirds of the leads are engaged
        self.assertLess(qualified, 1000)


if __name__ == "__main__":
    unittest.main()
